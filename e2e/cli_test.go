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

	// An unknown upstream: the command fails and says why.
	cmd := exec.Command(caddyBin, "soap-affinity", "drain", "simple_client_session_srv0_1", "localhost:9999")
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), `no upstream \"localhost:9999\"`) {
		t.Errorf("draining an unknown upstream: %v\n%s", err, msg)
	}
}
