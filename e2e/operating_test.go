package e2e

import "testing"

// TestOperatingAsTheReadmeShowsIt runs docs/operating.md's commands (admin API
// and metrics) against a fresh demo that has seen the demo walkthrough's
// requests, as the page says its outputs are.
func TestOperatingAsTheReadmeShowsIt(t *testing.T) {
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	runAll(t, "demo")
	runAll(t, "admin")
}
