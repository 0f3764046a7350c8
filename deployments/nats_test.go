package deployments_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

const natsDir = "deployments/nats"

func loadNatsConfig(t *testing.T, root, file string) *server.Options {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join(root, natsDir, file))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return opts
}

func TestNatsConfigsLoad(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, natsDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("config files %v, want the 3 cluster nodes and the single server", files)
	}
	for _, f := range files {
		opts := loadNatsConfig(t, root, filepath.Base(f))
		if !opts.JetStream || opts.StoreDir != "/data" {
			t.Errorf("%s: JetStream %v store %q, want enabled on /data (the mounted volume)", f, opts.JetStream, opts.StoreDir)
		}
		if opts.Port != 4222 || opts.HTTPPort != 8222 {
			t.Errorf("%s: client port %d monitoring port %d, want 4222 and 8222", f, opts.Port, opts.HTTPPort)
		}
		if opts.ServerName == "" {
			t.Errorf("%s: no server_name", f)
		}
	}
	single := loadNatsConfig(t, root, "nats-single.conf")
	if single.Cluster.Port != 0 || len(single.Routes) != 0 {
		t.Errorf("nats-single.conf is clustered: %+v routes %v", single.Cluster, single.Routes)
	}
}

// The cluster configs agree with each other and with docker-compose.yml:
// unique server names, one cluster name, and routes to every node, by the
// compose service names that mount them.
func TestNatsClusterConfigsAreConsistent(t *testing.T) {
	c, root := loadCompose(t)
	services := natsServices(c)
	names := map[string]string{} // server_name -> file
	for i := 1; i <= 3; i++ {
		file := fmt.Sprintf("nats-cluster-n%d.conf", i)
		opts := loadNatsConfig(t, root, file)
		if other, dup := names[opts.ServerName]; dup {
			t.Errorf("%s and %s share server_name %q", file, other, opts.ServerName)
		}
		names[opts.ServerName] = file
		if opts.Cluster.Name != "C1" || opts.Cluster.Port != 6222 {
			t.Errorf("%s: cluster %q port %d, want C1 on 6222", file, opts.Cluster.Name, opts.Cluster.Port)
		}
		var hosts []string
		for _, r := range opts.Routes {
			if r.Port() != "6222" {
				t.Errorf("%s: route %s not on the cluster port 6222", file, r)
			}
			hosts = append(hosts, r.Hostname())
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, services) {
			t.Errorf("%s: routes to %v, want every nats service %v", file, hosts, services)
		}
		// The compose service nats-<i> mounts this file.
		svc := c.Services[fmt.Sprintf("nats-%d", i)]
		mounted := slices.ContainsFunc(svc.Volumes, func(v string) bool {
			return strings.HasPrefix(v, "./"+natsDir+"/"+file+":")
		})
		if !mounted {
			t.Errorf("compose service nats-%d does not mount %s (volumes %v)", i, file, svc.Volumes)
		}
		if !slices.Contains(svc.Command, "--config") {
			t.Errorf("compose service nats-%d does not start with --config: %v", i, svc.Command)
		}
	}
}
