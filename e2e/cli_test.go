package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's "Draining an upstream" commands, against the demo.
const (
	cliUpstreams     = `caddy soap-affinity upstreams simple_client_session_srv0_1`
	cliDrain         = `caddy soap-affinity drain simple_client_session_srv0_1 localhost:9002`
	cliUndrain       = `caddy soap-affinity undrain simple_client_session_srv0_1 localhost:9002`
	cliPolicies      = `caddy soap-affinity sessions`
	cliSessionsOn    = `caddy soap-affinity sessions simple_client_session_srv0_1 --upstream localhost:9002`
	cliUpstreamsJSON = `caddy soap-affinity upstreams simple_client_session_srv0_1 --json`
	curlDrain        = `curl -s -X POST 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/drain?upstream=localhost:9002'`
	curlUpstreams    = `curl -s localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/upstreams`
	curlUndrain      = `curl -s -X DELETE 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/drain?upstream=localhost:9002'`
)

// demoMoreSessions is the walkthrough's loop of new sessions with six more ids.
var demoMoreSessions = strings.Replace(demoNewSessions, "for id in a b c;", "for id in d e f g h i;", 1)

// caddyCommand runs a README command that calls `caddy`, with the binary
// built for this test run first on the PATH, as an operator's would be.
func caddyCommand(t *testing.T, command string) string {
	t.Helper()
	requireInReadme(t, command)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", command)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(caddyBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("command failed: %v\n$ %s\n%s", err, command, out)
	}
	return string(out)
}

// rows splits a table's output into the fields of each line, header first.
func rows(out string) [][]string {
	var rs [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rs = append(rs, strings.Fields(line))
	}
	return rs
}

func wantTable(t *testing.T, command, out string, want ...string) {
	t.Helper()
	got := rows(out)
	if len(got) != len(want) {
		t.Fatalf("%s printed %d lines, want %d:\n%s", command, len(got), len(want), out)
	}
	for i, w := range want {
		if strings.Join(got[i], " ") != w {
			t.Errorf("%s line %d: %q, want %q\n%s", command, i+1, strings.Join(got[i], " "), w, out)
		}
	}
}

// TestOperatorCommandsAsTheReadmeShowsThem drains one of the demo's backends
// with the README's `caddy soap-affinity` and curl commands: new sessions go
// elsewhere, its own stay, and undrain ends it.
func TestOperatorCommandsAsTheReadmeShowsThem(t *testing.T) {
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	bash(t, demoSameSession)
	home := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(bash(t, demoNewSessions)), "\n") {
		id, backend, _ := strings.Cut(line, " ")
		home[id] = backend
	}
	home["123"] = strings.Fields(bash(t, demoSameSession))[1]
	on := map[string]int{}
	for _, b := range home {
		on[b]++
	}
	row := func(upstream, draining string) string {
		return fmt.Sprintf("%s %d %s yes", upstream, on[upstream], draining)
	}
	header := "UPSTREAM SESSIONS DRAINING AVAILABLE"

	out := caddyCommand(t, cliUpstreams)
	t.Logf("$ %s\n%s", cliUpstreams, out)
	wantTable(t, cliUpstreams, out, header, row("localhost:9001", "no"), row("localhost:9002", "no"), row("localhost:9003", "no"))

	out = caddyCommand(t, cliDrain)
	t.Logf("$ %s\n%s", cliDrain, out)
	wantTable(t, cliDrain, out, header, row("localhost:9002", "yes"))

	// New sessions avoid it; its own sessions stay.
	requireInReadme(t, demoMoreSessions)
	more := bash(t, demoMoreSessions)
	if strings.Contains(more, "localhost:9002") {
		t.Errorf("new sessions placed on the draining upstream:\n%s", more)
	}
	if again := strings.Fields(bash(t, demoSameSession))[1]; again != home["123"] {
		t.Errorf("session 123 moved from %s to %s while draining", home["123"], again)
	}
	for _, line := range strings.Split(strings.TrimSpace(more), "\n") {
		_, backend, _ := strings.Cut(line, " ")
		on[backend]++
	}
	out = caddyCommand(t, cliUpstreams)
	wantTable(t, cliUpstreams, out, header, row("localhost:9001", "no"), row("localhost:9002", "yes"), row("localhost:9003", "no"))

	var sessionsOn9002 []string
	for id, b := range home {
		if b == "localhost:9002" {
			sessionsOn9002 = append(sessionsOn9002, id)
		}
	}
	out = caddyCommand(t, cliSessionsOn)
	t.Logf("$ %s\n%s", cliSessionsOn, out)
	if got := rows(out); len(got) != 1+len(sessionsOn9002) || strings.Join(got[0], " ") != "SESSION UPSTREAM REQUESTS LAST_USED EXPIRES" {
		t.Errorf("%s: want a header and the %d sessions %v:\n%s", cliSessionsOn, len(sessionsOn9002), sessionsOn9002, out)
	}

	out = caddyCommand(t, cliPolicies)
	t.Logf("$ %s\n%s", cliPolicies, out)
	wantTable(t, cliPolicies, out, "POLICY SESSIONS TIMEOUT EXPIRY MAX_SESSIONS", "simple_client_session_srv0_1 10 2m0s sliding 1000000")

	var list struct {
		Upstreams []struct {
			Upstream string `json:"upstream"`
			Draining bool   `json:"draining"`
		} `json:"upstreams"`
	}
	out = caddyCommand(t, cliUpstreamsJSON)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Upstreams) != 3 || !list.Upstreams[1].Draining {
		t.Errorf("%s: %v\n%s", cliUpstreamsJSON, err, out)
	}

	out = caddyCommand(t, cliUndrain)
	wantTable(t, cliUndrain, out, header, row("localhost:9002", "no"))

	// The same with curl.
	var u struct {
		Upstream string `json:"upstream"`
		Draining bool   `json:"draining"`
	}
	runJSON(t, curlDrain, &u)
	if u.Upstream != "localhost:9002" || !u.Draining {
		t.Errorf("%s: %+v", curlDrain, u)
	}
	list.Upstreams = nil
	runJSON(t, curlUpstreams, &list)
	if len(list.Upstreams) != 3 || !list.Upstreams[1].Draining {
		t.Errorf("%s: %+v", curlUpstreams, list)
	}
	runJSON(t, curlUndrain, &u)
	if u.Draining {
		t.Errorf("%s: %+v", curlUndrain, u)
	}

	// An unknown upstream: the command fails and says why.
	cmd := exec.Command(caddyBin, "soap-affinity", "drain", "simple_client_session_srv0_1", "localhost:9999")
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), `no upstream \"localhost:9999\"`) {
		t.Errorf("draining an unknown upstream: %v\n%s", err, msg)
	}
}
