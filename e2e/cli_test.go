package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDrainAsTheReadmeShowsIt runs docs/operating.md's "Draining an upstream"
// walkthrough, `caddy soap-affinity` and curl, against a fresh demo that has
// seen the demo walkthrough's six sessions; the caddy built for this test
// run is first on the PATH, as an operator's would be.
func TestDrainAsTheReadmeShowsIt(t *testing.T) {
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	runAll(t, "demo")
	t.Setenv("PATH", filepath.Dir(caddyBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, s := range readmeSteps(t, "drain") {
		out := s.run(t)
		if strings.Contains(s.command, "for id in") && strings.Contains(out, "localhost:9002") {
			t.Errorf("%s: new sessions placed on the draining upstream:\n%s", s.line, out)
		}
	}

	// Refused commands fail, say why, and change nothing.
	for _, refused := range []struct {
		args []string
		want string
	}{
		{[]string{"localhost:9999"}, `no upstream \"localhost:9999\"`},
		{[]string{"localhost:9001", "--deadline", "10"}, `malformed deadline \"10\"`},
		{[]string{"localhost:9001", "--deadline", "-5m"}, `deadline \"-5m\": want a duration above 0`},
		{[]string{"localhost:9001", "--wait"}, "--wait needs --deadline or --timeout"},
		{[]string{"localhost:9001", "--timeout", "1m"}, "--timeout is for --wait"},
	} {
		cmd := exec.Command(caddyBin, append([]string{"soap-affinity", "drain", "simple_client_session_srv0_1"}, refused.args...)...)
		if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), refused.want) {
			t.Errorf("drain %v: %v\n%s\nwant an error with %s", refused.args, err, msg, refused.want)
		}
	}
	out, err := exec.Command(caddyBin, "soap-affinity", "upstreams", "simple_client_session_srv0_1", "--json").CombinedOutput()
	if err != nil || strings.Contains(string(out), `"draining":true`) {
		t.Errorf("after the refused drains, want none draining: %v\n%s", err, out)
	}
}
