package config

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// shortcut ties a CLI flag to its short environment variable and the key both
// set. This table is the one place flags and short env names are declared.
type shortcut struct {
	flag  string
	env   string
	key   string
	usage string // a back-quoted word names the value in --help
}

var shortcuts = []shortcut{
	{"bind", "MOQ_BIND", "server.bind", "`host:port` to listen on: UDP for QUIC/WebTransport, TCP (same port) for /certificate.sha256, /health, /ready and /cluster"},
	{"protocol", "MOQ_PROTOCOLS", "server.protocols", "serve only these MoQ `protocol`s, in order of preference (repeatable, comma-separated; default every one: moq-lite-04, moq-lite-03, moql, moqt-20 … moqt-15, moq-00)"},
	{"tls-cert", "MOQ_TLS_CERT", "server.tls.cert", "TLS certificate chain `file` (PEM)"},
	{"tls-key", "MOQ_TLS_KEY", "server.tls.key", "TLS private key `file` (PEM)"},
	{"tls-root", "MOQ_TLS_ROOT", "server.tls.root", "CA `file` (PEM) for mTLS between cluster nodes"},
	{"tls-dir", "MOQ_TLS_DIR", "server.tls.dir", "`directory` of more certificates chosen by SNI: NAME.crt with NAME.key"},
	{"metrics-bind", "MOQ_METRICS_BIND", "metrics.bind", "`host:port` for Prometheus GET /metrics and POST /drain (off when empty; keep it private)"},
	{"tls-generate", "MOQ_TLS_GENERATE", "server.tls.generate", "serve a self-signed development certificate for `host` (repeatable, comma-separated)"},
	{"log-level", "MOQ_LOG_LEVEL", "log.level", "log `level`: debug, info, warn or error"},
	{"log-format", "MOQ_LOG_FORMAT", "log.format", "log `format`: console or json"},
	{"cluster-root", "MOQ_CLUSTER_ROOT", "cluster.root", "root node `URL` to join (repeatable); without one this node is a root"},
	{"cluster-node", "MOQ_CLUSTER_NODE", "cluster.node", "`URL` other nodes reach this node at (https://, moqt://, moql://; http:// pins the certificate hash the node serves, for development)"},
	{"cluster-id", "MOQ_CLUSTER_ID", "cluster.id", "node `id` (default: host:port of --cluster-node)"},
	{"cluster-token", "MOQ_CLUSTER_TOKEN", "cluster.token_file", "`file` holding this node's cluster credential: the shared secret, or with [auth] keys its cluster JWT"},
	{"cluster-node-host", "MOQ_CLUSTER_NODE_HOSTS", "cluster.node_hosts", "`host` other nodes' URLs may name (name, *.suffix, IP or CIDR; repeatable, comma-separated)"},
	{"cluster-insecure", "MOQ_CLUSTER_INSECURE", "cluster.insecure", "run the cluster without credentials and trust any node URL (development only)"},
}

// keyAliases are the seed design's names for fields that moq-relay's flags
// also set. Loading folds each alias into its canonical key, so the layers
// above the file override one field instead of racing two.
var keyAliases = []struct{ alias, canonical string }{
	{"cluster.sync.server_id", "cluster.id"},
	{"cluster.sync.address", "cluster.node"},
	{"cluster.sync.seed_servers", "cluster.root"},
}

func canonicalKey(key string) string {
	for _, a := range keyAliases {
		if a.alias == key {
			return a.canonical
		}
	}
	return key
}

// envTargets maps every recognised variable to the canonical key it sets:
// MOQ_<KEY> for every leaf (alias keys lead to their canonical key) plus the
// short names of the shortcuts.
var envTargets = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	for _, l := range leaves() {
		m[EnvName(l.key)] = canonicalKey(l.key)
	}
	for _, s := range shortcuts {
		m[s.env] = s.key
	}
	return m
})

// foldAliases moves values written under alias keys into their canonical
// keys and clears the aliases. Lists merge without duplicates; two different
// scalar values are an error because neither clearly wins.
func foldAliases(c *Config) error {
	var errs []error
	for _, a := range keyAliases {
		from, to := field(c, a.alias), field(c, a.canonical)
		if from.IsZero() || (from.Kind() == reflect.Slice && from.Len() == 0) {
			continue
		}
		switch {
		case to.Kind() == reflect.Slice:
			merged := appendUnique(nil, to.Interface().([]string)...)
			to.Set(reflect.ValueOf(appendUnique(merged, from.Interface().([]string)...)))
		case !to.IsZero() && !reflect.DeepEqual(to.Interface(), from.Interface()):
			errs = append(errs, aliasConflict(a.alias, a.canonical, from, to))
			continue
		default:
			to.Set(from)
		}
		from.SetZero()
	}
	return errors.Join(errs...)
}

func aliasConflict(alias, canonical string, aliasValue, canonicalValue reflect.Value) error {
	return fmt.Errorf("%s = %q conflicts with %s = %q: they are the same setting, set only one",
		alias, formatValue(aliasValue), canonical, formatValue(canonicalValue))
}
