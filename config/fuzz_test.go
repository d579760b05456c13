package config

import (
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary file text and env values through decoding, env
// parsing, validation and the accessors: none of them may panic.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "1s")
	f.Add("[cluster]\nroot = [\"https://[::1]:1\"]\n[cluster.sync]\nseed_servers = [\"x\"]\nserver_id = \"a\"", "https://a:1,,b")
	f.Add("[server.tls]\nvalidity = 1e400", "nan")
	f.Add("server = 1", "-9223372036854775808")
	f.Fuzz(func(t *testing.T, file, envValue string) {
		c := Default()
		if _, err := decodeFile(c, file); err != nil {
			return
		}
		env := []string{
			"MOQ_CLUSTER_SYNC_HEARTBEAT_INTERVAL=" + envValue,
			"MOQ_CLUSTER_SYNC_SEED_SERVERS=" + envValue,
			"MOQ_CLUSTER_ROUTING_CPU_THRESHOLD=" + envValue,
			"MOQ_RELAY_MAX_FRAME_SIZE=" + envValue,
			"MOQ_CLUSTER_NODE=" + envValue,
		}
		_ = applyEnv(c, env)
		_ = c.Validate()
		_ = c.Cluster.NodeID()
		_ = c.Cluster.Roots()
		_, _ = c.Log.Build()
	})
}
