package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestFileAliasesFold(t *testing.T) {
	path := writeConfig(t, `
[cluster]
root = ["https://a.example.com:4443", "https://b.example.com:4443", "https://a.example.com:4443"]
[cluster.sync]
server_id = "leaf-1"
address = "https://leaf.example.com:4443"
seed_servers = ["https://b.example.com:4443", "moql://c.example.com:4443"]
`)
	c, _, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantRoots := []string{"https://a.example.com:4443", "https://b.example.com:4443", "moql://c.example.com:4443"}
	if !reflect.DeepEqual(c.Cluster.Root, wantRoots) {
		t.Errorf("root = %q, want %q", c.Cluster.Root, wantRoots)
	}
	if c.Cluster.ID != "leaf-1" || c.Cluster.Node != "https://leaf.example.com:4443" {
		t.Errorf("id, node = %q, %q", c.Cluster.ID, c.Cluster.Node)
	}
	if s := c.Cluster.Sync; s.ServerID != "" || s.Address != "" || s.SeedServers != nil {
		t.Errorf("aliases not cleared after folding: %+v", s)
	}
}

func TestFileAliasConflict(t *testing.T) {
	path := writeConfig(t, `
[cluster]
id = "a"
node = "https://a.example.com:1"
[cluster.sync]
server_id = "b"
address = "https://a.example.com:1"
`)
	_, _, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "cluster.sync.server_id") || !strings.Contains(err.Error(), "cluster.id") {
		t.Fatalf("want a conflict naming both keys, got %v", err)
	}
	if strings.Contains(err.Error(), "cluster.sync.address") {
		t.Fatalf("equal values must not conflict: %v", err)
	}
}

// An alias set in a lower layer is overridden by the canonical key in a
// higher one, and the other way round, without a conflict.
func TestAliasesFollowPrecedence(t *testing.T) {
	path := writeConfig(t, `
[cluster]
node = "https://file.example.com:1"
[cluster.sync]
server_id = "file-id"
seed_servers = ["https://file-root.example.com:1"]
`)
	env := []string{
		"MOQ_CLUSTER_SYNC_ADDRESS=https://env.example.com:2",
		"MOQ_CLUSTER_ROOT=https://env-root.example.com:2",
		"MOQ_CLUSTER_SYNC_SEED_SERVERS=https://env-seed.example.com:2,https://env-root.example.com:2",
	}
	c, _, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyFlags(parseFlags(t, "--cluster-id", "flag-id"), c); err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Node != "https://env.example.com:2" {
		t.Errorf("node = %q: env alias must beat the file", c.Cluster.Node)
	}
	if want := []string{"https://env-root.example.com:2", "https://env-seed.example.com:2"}; !reflect.DeepEqual(c.Cluster.Roots(), want) {
		t.Errorf("roots = %q, want %q (env replaces the file list, env names merge)", c.Cluster.Roots(), want)
	}
	if c.Cluster.NodeID() != "flag-id" {
		t.Errorf("id = %q: the flag must beat the file alias", c.Cluster.NodeID())
	}
	if err := c.Validate(); err != nil && !strings.Contains(err.Error(), "server.tls") {
		t.Errorf("only the missing certificate should be reported, got %v", err)
	}
}

func TestEnvAliasConflict(t *testing.T) {
	_, _, err := Load("", []string{"MOQ_CLUSTER_ID=a", "MOQ_CLUSTER_SYNC_SERVER_ID=b"})
	if err == nil || !strings.Contains(err.Error(), "MOQ_CLUSTER_ID") || !strings.Contains(err.Error(), "MOQ_CLUSTER_SYNC_SERVER_ID") {
		t.Fatalf("want a conflict naming both variables, got %v", err)
	}
}

func TestOfflineNotAboveSuspectNamesBothKeys(t *testing.T) {
	c := validConfig()
	c.Cluster.Sync.SuspectThreshold, c.Cluster.Sync.OfflineThreshold = 5, 4
	err := c.Validate()
	if err == nil {
		t.Fatal("offline < suspect accepted")
	}
	for _, key := range []string{"cluster.sync.offline_threshold", "cluster.sync.suspect_threshold"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not mention %s", err, key)
		}
	}
}

func TestNodeID(t *testing.T) {
	tests := []struct {
		name    string
		cluster ClusterConfig
		want    string
	}{
		{"explicit", ClusterConfig{ID: "n1", Node: "https://a.example.com:1"}, "n1"},
		{"server_id alias", ClusterConfig{Sync: SyncConfig{ServerID: "n2"}, Node: "https://a.example.com:1"}, "n2"},
		{"from node", ClusterConfig{Node: "https://Relay.Example.com:4443/moq"}, "relay.example.com:4443"},
		{"from IPv6 node", ClusterConfig{Node: "moql://[2001:db8::1]:4443"}, "[2001:db8::1]:4443"},
		{"from address alias", ClusterConfig{Sync: SyncConfig{Address: "moqt://b.example.com:5"}}, "b.example.com:5"},
		{"nothing set", ClusterConfig{}, ""},
		{"unparsable node", ClusterConfig{Node: "https://[::1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cluster.NodeID(); got != tt.want {
				t.Fatalf("NodeID() = %q, want %q", got, tt.want)
			}
		})
	}
}
