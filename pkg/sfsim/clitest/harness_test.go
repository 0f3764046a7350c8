package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/contactsync/contactsync/pkg/sfsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Environment variables naming the tools (set by .ci/run).
const (
	envSF       = "CONTACTSYNC_SF"
	envNode     = "CONTACTSYNC_NODE"
	envNodePath = "CONTACTSYNC_NODE_PATH"
)

// commandTimeout bounds one sf or node run; a hung tool fails its test
// instead of the whole package.
const commandTimeout = 2 * time.Minute

// tools are the located executables.
type tools struct {
	sf, node, nodePath string
}

// needTools returns the tools named by the environment. A missing or
// unusable tool skips the test locally and fails it when CI=true.
func needTools(t *testing.T, jsforce bool) tools {
	t.Helper()
	tl := tools{sf: os.Getenv(envSF), node: os.Getenv(envNode), nodePath: os.Getenv(envNodePath)}
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: .ci/run installs the tools and sets %s, %s and %s)", msg, envSF, envNode, envNodePath)
		}
		t.Skipf("%s; set %s, %s and %s to run (see .ci/run)", msg, envSF, envNode, envNodePath)
	}
	if tl.node == "" {
		missing("%s is not set", envNode)
	}
	if !jsforce && tl.sf == "" {
		missing("%s is not set", envSF)
	}
	if jsforce && tl.nodePath == "" {
		missing("%s is not set", envNodePath)
	}
	out, err := exec.Command(tl.node, "--version").Output()
	if err != nil {
		missing("%s=%s: %v", envNode, tl.node, err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if major < 22 {
		missing("%s=%s is Node %s; the Salesforce CLI needs Node >= 22", envNode, tl.node, v)
	}
	return tl
}

// org is an emulator with a session for the tools.
type org struct {
	t     *testing.T
	srv   *sfsim.Server
	token string
	tl    tools
	home  string // private HOME for sf
}

// startOrg starts an emulator and gets an integration-user token over HTTP.
func startOrg(t *testing.T, tl tools) *org {
	t.Helper()
	return startOrgWith(t, tl, sfsim.Config{})
}

func startOrgWith(t *testing.T, tl tools, cfg sfsim.Config) *org {
	t.Helper()
	srv, err := sfsim.New(cfg)
	if err != nil {
		t.Fatalf("sfsim.New: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("sfsim Close: %v", err)
		}
	})
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	res, err := hc.PostForm(srv.URL()+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {sfsim.DefaultClientID}, "client_secret": {sfsim.DefaultClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token: status %d, %v", res.StatusCode, err)
	}
	return &org{t: t, srv: srv, token: tok.AccessToken, tl: tl, home: t.TempDir()}
}

// result is one finished tool run. The session token is never part of a
// command line and is scrubbed from what is printed on failure.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (o *org) scrub(s string) string { return strings.ReplaceAll(s, o.token, "[token]") }

func (r result) String() string {
	return fmt.Sprintf("sf %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// env is the environment of a tool run: a private HOME, no telemetry, no
// update checks, and the Node >= 22 binary first on PATH (sf's launcher
// runs "node").
func (o *org) env(extra ...string) []string {
	env := []string{
		"HOME=" + o.home,
		"PATH=" + filepath.Dir(o.tl.node) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"SF_DISABLE_TELEMETRY=true", "SF_AUTOUPDATE_DISABLE=true", "SF_SKIP_NEW_VERSION_CHECK=true",
		"SF_USE_GENERIC_UNIX_KEYCHAIN=true", "SF_CONTAINER_MODE=true", "NODE_NO_WARNINGS=1",
		"FORCE_COLOR=0", "NO_COLOR=1", "TERM=dumb",
	}
	return append(env, extra...)
}

// run runs a tool in dir ("" = the org's HOME) and returns its outcome
// whatever the exit code.
func (o *org) run(dir string, extraEnv []string, name string, args ...string) result {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if dir == "" {
		dir = o.home
	}
	cmd.Dir = dir
	cmd.Env = o.env(extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: o.scrub(stdout.String()), stderr: o.scrub(stderr.String())}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			o.t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		o.t.Fatalf("%s %s: no answer within %s", name, strings.Join(args, " "), commandTimeout)
	}
	return r
}

// sf runs the Salesforce CLI and fails the test unless it exits 0.
func (o *org) sf(args ...string) result {
	o.t.Helper()
	r := o.run("", nil, o.tl.sf, args...)
	if r.code != 0 {
		o.t.Fatalf("%v", r)
	}
	return r
}

// sfJSON runs sf with --json and decodes its "result".
func (o *org) sfJSON(v any, args ...string) result {
	o.t.Helper()
	r := o.sf(append(args, "--json")...)
	var env struct {
		Status int             `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &env); err != nil || env.Status != 0 {
		o.t.Fatalf("--json output (status %d, %v):\n%v", env.Status, err, r)
	}
	if v != nil {
		if err := json.Unmarshal(env.Result, v); err != nil {
			o.t.Fatalf("decode result: %v\n%v", err, r)
		}
	}
	return r
}

// login authorises sf for the emulator under the alias "sim", passing the
// token in SF_ACCESS_TOKEN (never on the command line).
func (o *org) login() {
	o.t.Helper()
	r := o.run("", []string{"SF_ACCESS_TOKEN=" + o.token}, o.tl.sf,
		"org", "login", "access-token", "--instance-url", o.srv.URL(), "--no-prompt", "--alias", "sim", "--set-default")
	if r.code != 0 || !strings.Contains(r.stdout, "Successfully authorized "+sfsim.Username) {
		o.t.Fatalf("login: %v", r)
	}
}

// records returns the emulator's records of object whose field equals value.
func (o *org) records(object, field string, value any) []map[string]any {
	var out []map[string]any
	for _, r := range o.srv.Records(object) {
		if r[field] == value {
			out = append(out, r)
		}
	}
	return out
}

// one returns the single record of object whose field equals value.
func (o *org) one(object, field string, value any) map[string]any {
	o.t.Helper()
	rs := o.records(object, field, value)
	if len(rs) != 1 {
		o.t.Fatalf("%s with %s = %v: %d records in the emulator, want 1", object, field, value, len(rs))
	}
	return rs[0]
}

// insert seeds a record directly in the emulator.
func (o *org) insert(object string, fields map[string]any) string {
	o.t.Helper()
	id, err := o.srv.Insert(object, fields)
	if err != nil {
		o.t.Fatal(err)
	}
	return id
}

// writeFile writes a file under dir.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
