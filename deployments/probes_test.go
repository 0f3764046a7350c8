package deployments_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// Issue 10: the producer's health check and probes hit :9090/healthz, which
// `producer serve` never opened. These tests take the ports each process
// really listens on from the README's port plan (the defaults) and the
// settings the compose file and the manifests give it (METRICS_ADDR,
// INGEST_ADDR, SFSIM_ADDR, the NATS config), and fail when a health check or
// probe looks anywhere else.

// listener is one row of the README's port plan: who listens on port by
// default, and the setting that moves it ("" when none does).
type listener struct {
	who     string // "upserter", "producer serve", "nats-server"
	setting string
	port    int
}

var planRow = regexp.MustCompile("^\\| ([0-9 /]+) \\| (.+?) \\|")

// portPlan parses the README's "### Ports" table.
func portPlan(t *testing.T) []listener {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "\n### Ports\n")
	if !ok {
		t.Fatal("README has no ### Ports section")
	}
	sec, _, _ = strings.Cut(sec, "\n#")
	var plan []listener
	for _, l := range strings.Split(sec, "\n") {
		m := planRow.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		spans := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[2], -1)
		who, setting := strings.TrimSpace(m[2]), ""
		if len(spans) > 0 {
			who = spans[0][1]
		}
		if len(spans) > 1 {
			setting = spans[1][1]
		}
		ports := strings.Split(m[1], "/")
		for i, p := range ports {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				t.Fatalf("port plan row %q: %v", l, err)
			}
			if len(ports) > 1 && i > 0 {
				setting = "" // "4222 / 8222 | nats-server": both fixed
			}
			plan = append(plan, listener{who: who, setting: setting, port: n})
		}
	}
	if len(plan) < 5 {
		t.Fatalf("README port plan has %d rows: %v", len(plan), plan)
	}
	return plan
}

// addrPort is the port of a listen address (":9090", "0.0.0.0:8088"); 0
// when the address is empty (off).
func addrPort(t *testing.T, setting, addr string) int {
	t.Helper()
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%s=%q is not a listen address", setting, addr)
	}
	return n
}

// served is the ports worker (run with args) listens on under env: each
// listener of the plan for it, moved by its setting when env sets it.
// A "producer serve" listener is served only when the first argument is
// serve.
func served(t *testing.T, plan []listener, worker string, args []string, env map[string]string) []int {
	t.Helper()
	var out []int
	for _, l := range plan {
		name, sub, _ := strings.Cut(l.who, " ")
		if name != worker || (sub != "" && (len(args) == 0 || args[0] != sub)) {
			continue
		}
		port := l.port
		if v, ok := env[l.setting]; ok && l.setting != "" {
			port = addrPort(t, l.setting, v)
		}
		if port != 0 && !slices.Contains(out, port) {
			out = append(out, port)
		}
	}
	return out
}

// natsServed is what a nats-server with the config file at path listens
// on: the client port (4222 unless "port:" moves it) and the monitoring
// port only when the config opens one ("http:" / "http_port:").
func natsServed(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := []int{4222}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.TrimSpace(k) {
		case "port":
			out[0], _ = strconv.Atoi(v)
		case "http", "http_port", "monitor_port":
			p := v
			if _, port, err := net.SplitHostPort(v); err == nil {
				p = port
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("%s: %s: %q", path, k, v)
			}
			out = append(out, n)
		}
	}
	return out
}

var probeURL = regexp.MustCompile(`https?://[^/:\s]+:(\d+)`)

func TestComposeHealthchecksHitServedPorts(t *testing.T) {
	plan := portPlan(t)
	c, root := loadCompose(t)
	checked := 0
	for name, s := range c.Services {
		if s.Healthcheck == nil {
			continue
		}
		m := probeURL.FindStringSubmatch(strings.Join(s.Healthcheck.Test, " "))
		if m == nil {
			t.Errorf("service %s: healthcheck %v has no http://host:port URL", name, s.Healthcheck.Test)
			continue
		}
		port, _ := strconv.Atoi(m[1])
		var ports []int
		switch {
		case strings.HasPrefix(s.Image, "nats:"):
			conf := ""
			for _, v := range s.Volumes {
				if src, dst, _ := strings.Cut(v, ":"); strings.HasSuffix(strings.Split(dst, ":")[0], ".conf") {
					conf = filepath.Join(root, src)
				}
			}
			if conf == "" {
				t.Errorf("service %s: no NATS config mounted", name)
				continue
			}
			ports = natsServed(t, conf)
		case s.Build != nil:
			ports = served(t, plan, s.Build.Args["WORKER"], s.Command, s.Environment)
		default:
			t.Errorf("service %s: neither a NATS image nor a built worker", name)
			continue
		}
		if !slices.Contains(ports, port) {
			t.Errorf("service %s: healthcheck on port %d, but it listens on %v", name, port, ports)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d healthchecks checked", checked)
	}
}

// probeContainer is the part of a Deployment's container the probe check reads.
type probeContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
}

type probeDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []probeContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesProbesHitServedPorts(t *testing.T) {
	plan := portPlan(t)
	files, err := filepath.Glob(filepath.Join(repoRoot(t), k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var docs []probeDoc
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(r)
		for {
			var d probeDoc
			if err := dec.Decode(&d); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			docs = append(docs, d)
		}
		r.Close()
	}
	configMaps := map[string]map[string]string{}
	for _, d := range docs {
		if d.Kind == "ConfigMap" {
			configMaps[d.Metadata.Name] = d.Data
		}
	}
	checked := 0
	for _, d := range docs {
		if d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					for k, v := range configMaps[ef.ConfigMapRef.Name] {
						env[k] = v
					}
				}
			}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			worker := strings.TrimPrefix(strings.Split(c.Image, ":")[0], "contactsync/")
			ports := served(t, plan, worker, c.Args, env)
			named := map[string]int{}
			for _, p := range c.Ports {
				named[p.Name] = p.ContainerPort
				if !slices.Contains(ports, p.ContainerPort) {
					t.Errorf("%s/%s declares containerPort %s %d, but it listens on %v", d.Metadata.Name, c.Name, p.Name, p.ContainerPort, ports)
				}
			}
			for what, p := range map[string]*k8sProbe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
				if p == nil {
					continue
				}
				if p.HTTPGet == nil {
					t.Errorf("%s/%s %s is not an httpGet probe", d.Metadata.Name, c.Name, what)
					continue
				}
				port := 0
				switch v := p.HTTPGet.Port.(type) {
				case string:
					port = named[v]
				case uint64:
					port = int(v)
				case int64:
					port = int(v)
				case int:
					port = v
				}
				if !slices.Contains(ports, port) {
					t.Errorf("%s/%s %s on port %v (%d), but it listens on %v", d.Metadata.Name, c.Name, what, p.HTTPGet.Port, port, ports)
				}
				checked++
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d probes checked", checked)
	}
}
