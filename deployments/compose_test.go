package deployments_test

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The env names DESIGN.md and the issues define. Anything else in
// docker-compose.yml or the Kubernetes manifests is a name no process reads.
var envAllowList = []string{
	// DESIGN.md "Shared names"
	"NATS_URL", "SF_LOGIN_URL", "SF_AUTH", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_USERNAME",
	"SF_PRIVATE_KEY_FILE", "SF_API_VERSION", "SF_EXTERNAL_ID_FIELD", "SYNC_POLICY", "METRICS_ADDR", "LOG_LEVEL",
	// DESIGN.md upsert worker and emulator sections
	"SF_MAX_CONCURRENCY", "SFSIM_ADDR", "SFSIM_CLIENT_ID", "SFSIM_CLIENT_SECRET", "SFSIM_JWT_CERT_FILE",
	// issue 4 (producer serve) and issue 5 (policies)
	"INGEST_TOKEN", "INGEST_ADDR", "SYNC_ADOPT_UNLINKED",
	// defined by the workers (pkg/producer, workers/upserter): stream replicas;
	// by workers/sfsim: the admin API's bearer token
	"NATS_REPLICAS", "SFSIM_ADMIN_TOKEN",
}

// SYNC_POLICY_<SEGMENT> is the per-segment override of issue 5.
var segmentPolicy = regexp.MustCompile(`^SYNC_POLICY_[A-Z0-9_]+$`)

func envAllowed(name string) bool {
	return slices.Contains(envAllowList, name) || segmentPolicy.MatchString(name)
}

// The processes that run as containers; workers/<name> must exist for each.
// (standalone and syncctl are CLIs and are not in the compose file.)
var composeWorkers = []string{"sfsim", "producer", "upserter", "reconciler"}

const dockerfile = "deployments/docker/Dockerfile"

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Target     string            `yaml:"target"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Deploy *struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	Profiles []string `yaml:"profiles"`
	Restart  string   `yaml:"restart"`
}

// oneShot is a service that runs and exits (the daily reports): started
// only by its profile, never restarted, so it has no healthcheck.
func (s composeService) oneShot() bool { return len(s.Profiles) > 0 && s.Restart == "no" }

// repoRoot is the directory holding go.mod, above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c, root
}

// natsServices are the compose services running the nats image, sorted.
func natsServices(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if strings.HasPrefix(s.Image, "nats:") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestComposeBuildsEveryWorkerFromTheSharedDockerfile(t *testing.T) {
	c, root := loadCompose(t)
	built := map[string]bool{}
	for name, s := range c.Services {
		if s.Build == nil {
			if s.Image == "" {
				t.Errorf("service %s has neither image nor build", name)
			}
			continue
		}
		if s.Build.Context != "." || s.Build.Dockerfile != dockerfile {
			t.Errorf("service %s builds %s from %q, want %s from the repo root", name, s.Build.Dockerfile, s.Build.Context, dockerfile)
		}
		worker := s.Build.Args["WORKER"]
		if worker == "" {
			t.Errorf("service %s has no WORKER build arg", name)
			continue
		}
		built[worker] = true
		if err := workerExists(root, worker); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		if s.Build.Target != "" && !dockerfileHasStage(t, root, s.Build.Target) {
			t.Errorf("service %s builds target %q, which %s does not define", name, s.Build.Target, dockerfile)
		}
	}
	for _, w := range composeWorkers {
		if !built[w] {
			t.Errorf("no service builds WORKER=%s", w)
		}
	}
}

// designWorkers are the processes of DESIGN.md; the Dockerfile builds any of them.
var designWorkers = []string{"standalone", "producer", "upserter", "reconciler", "syncctl", "sfsim"}

// workerExists reports whether workers/<name> holds a Go main package.
func workerExists(root, name string) error {
	files, err := filepath.Glob(filepath.Join(root, "workers", name, "*.go"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("workers/%s has no Go files (not written yet?)", name)
	}
	return nil
}

func TestDesignWorkersExist(t *testing.T) {
	root := repoRoot(t)
	for _, w := range designWorkers {
		if err := workerExists(root, w); err != nil {
			t.Error(err)
		}
	}
}

func dockerfileHasStage(t *testing.T, root, stage string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`(?mi)^FROM\s+\S+\s+AS\s+` + regexp.QuoteMeta(stage) + `\s*$`).Match(data)
}

func TestDockerfileBuildsTheNamedWorkerAsNonRoot(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"ARG WORKER",
		"FROM golang:${GO_VERSION} AS build",
		"ARG GO_VERSION=1.26",
		"go build -trimpath -ldflags=\"-s -w\" -o /app ./workers/${WORKER}",
		"CGO_ENABLED=0",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// Every runtime stage is distroless/static and drops root.
	stages := regexp.MustCompile(`(?m)^FROM (\S+) AS (\S+)$`).FindAllStringSubmatch(s, -1)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile stages %v, want build plus runtime", stages)
	}
	last := stages[len(stages)-1]
	if last[2] != "runtime" || !strings.HasPrefix(last[1], "gcr.io/distroless/static") || !strings.HasSuffix(last[1], "nonroot") {
		t.Errorf("last (default) stage %v, want runtime on distroless/static nonroot", last)
	}
	if n := strings.Count(s, "USER nonroot:nonroot"); n != len(stages)-1 {
		t.Errorf("%d USER nonroot lines for %d runtime stages", n, len(stages)-1)
	}
}

func TestComposeMountsExistingFiles(t *testing.T) {
	c, root := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok {
				t.Errorf("service %s: volume %q has no target", name, v)
				continue
			}
			if !strings.HasPrefix(src, "./") {
				if _, declared := c.Volumes[src]; !declared {
					t.Errorf("service %s: named volume %s is not declared under volumes:", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

func TestComposeEnvironmentUsesOnlyDesignNames(t *testing.T) {
	c, _ := loadCompose(t)
	for name, s := range c.Services {
		for key := range s.Environment {
			if !envAllowed(key) {
				t.Errorf("service %s sets %s, which is not a DESIGN.md name", name, key)
			}
		}
	}
	for _, name := range []string{"upserter", "reconciler"} {
		env := c.Services[name].Environment
		for _, key := range []string{"NATS_URL", "SF_LOGIN_URL", "SF_AUTH", "SF_CLIENT_ID", "SF_CLIENT_SECRET", "SF_API_VERSION", "SF_EXTERNAL_ID_FIELD", "SYNC_POLICY", "METRICS_ADDR", "LOG_LEVEL"} {
			if env[key] == "" {
				t.Errorf("service %s does not set %s", name, key)
			}
		}
		if env["SF_LOGIN_URL"] != "http://sfsim:8088" {
			t.Errorf("service %s SF_LOGIN_URL = %q, want the sfsim service", name, env["SF_LOGIN_URL"])
		}
	}
	if got := c.Services["sfsim"].Environment["SFSIM_ADDR"]; got != "0.0.0.0:8088" {
		t.Errorf("sfsim SFSIM_ADDR = %q, want 0.0.0.0:8088", got)
	}
	// Whoever may create the streams creates them R3 on the 3-node cluster.
	for _, name := range []string{"producer", "upserter"} {
		if got := c.Services[name].Environment["NATS_REPLICAS"]; got != "3" {
			t.Errorf("service %s NATS_REPLICAS = %q, want 3 on the 3-node cluster", name, got)
		}
	}
	token := c.Services["producer"].Environment["INGEST_TOKEN"]
	if !strings.HasPrefix(token, "${INGEST_TOKEN:-") {
		t.Errorf("producer INGEST_TOKEN = %q, want it from the environment with a dev default", token)
	}
}

func TestComposeNatsURLListsTheWholeCluster(t *testing.T) {
	c, _ := loadCompose(t)
	nats := natsServices(c)
	if len(nats) != 3 {
		t.Fatalf("nats services %v, want 3", nats)
	}
	users := 0
	for name, s := range c.Services {
		raw, ok := s.Environment["NATS_URL"]
		if !ok {
			continue
		}
		users++
		var hosts []string
		for _, u := range strings.Split(raw, ",") {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil || p.Scheme != "nats" || p.Port() != "4222" {
				t.Errorf("service %s NATS_URL entry %q, want nats://<service>:4222", name, u)
				continue
			}
			hosts = append(hosts, p.Hostname())
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, nats) {
			t.Errorf("service %s NATS_URL hosts %v, want the nats services %v", name, hosts, nats)
		}
		for _, n := range nats {
			if s.DependsOn[n].Condition != "service_healthy" {
				t.Errorf("service %s does not wait for %s to be healthy", name, n)
			}
		}
	}
	if users < 3 {
		t.Errorf("%d services set NATS_URL, want producer, upserter and reconciler", users)
	}
}

func TestComposeRunsSeveralUpserters(t *testing.T) {
	c, _ := loadCompose(t)
	u, ok := c.Services["upserter"]
	if !ok || u.Deploy == nil || u.Deploy.Replicas < 2 {
		t.Fatalf("upserter deploy = %+v, want replicas >= 2 so partitions are shared", u.Deploy)
	}
	if len(u.Ports) != 0 {
		t.Errorf("upserter publishes ports %v; replicas would collide", u.Ports)
	}
}

func TestComposeServicesHaveHealthchecksAndKnownDependencies(t *testing.T) {
	c, _ := loadCompose(t)
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if s.Healthcheck == nil && s.oneShot() {
		} else if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s has no exec-form healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
			if d.Condition != "service_healthy" {
				t.Errorf("service %s waits for %s with condition %q, want service_healthy", name, dep, d.Condition)
			}
		}
		// Containers built from the distroless debug stage only have busybox
		// tools under /busybox.
		if s.Build != nil && s.Healthcheck != nil && len(s.Healthcheck.Test) > 1 {
			if s.Build.Target != "debug" || !strings.HasPrefix(s.Healthcheck.Test[1], "/busybox/") {
				t.Errorf("service %s: healthcheck %v on target %q cannot run in a distroless image", name, s.Healthcheck.Test, s.Build.Target)
			}
		}
	}
	for _, name := range []string{"upserter", "reconciler"} {
		if c.Services[name].DependsOn["sfsim"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for sfsim", name)
		}
	}
}

// The daily reports run on demand in their own profile, so a plain
// `docker compose up` never starts them, and keep their runs in a volume.
func TestComposeDailyReportProfile(t *testing.T) {
	c, _ := loadCompose(t)
	s, ok := c.Services["daily-report"]
	if !ok {
		t.Fatal("no daily-report service")
	}
	if !slices.Contains(s.Profiles, "reports") || !s.oneShot() {
		t.Errorf("daily-report profiles %v restart %q, want the reports profile and restart \"no\"", s.Profiles, s.Restart)
	}
	if s.Build == nil || s.Build.Args["WORKER"] != "syncctl" {
		t.Errorf("daily-report does not build syncctl")
	}
	if len(s.Command) < 4 || s.Command[0] != "report" || !slices.Contains(s.Command, "--daily") {
		t.Fatalf("command %v, want report --daily --out DIR", s.Command)
	}
	out := s.Command[slices.Index(s.Command, "--out")+1]
	if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+out) }) {
		t.Errorf("--out %s is not a mounted volume (%v): the trend needs earlier runs", out, s.Volumes)
	}
	for _, key := range []string{"NATS_URL", "SF_LOGIN_URL", "SF_CLIENT_ID", "SF_CLIENT_SECRET"} {
		if s.Environment[key] == "" {
			t.Errorf("daily-report does not set %s", key)
		}
	}
	if s.DependsOn["sfsim"].Condition != "service_healthy" {
		t.Error("daily-report does not wait for sfsim")
	}
	for name, o := range c.Services {
		if name != "daily-report" && len(o.Profiles) == 0 && o.oneShot() {
			t.Errorf("%s is one-shot without a profile", name)
		}
	}
}
