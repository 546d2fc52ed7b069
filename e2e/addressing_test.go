package e2e

import (
	"regexp"
	"testing"
)

// TestDemoWSAddressing runs the WS-Addressing page's example against the
// demo: the backend echoes the Header the proxy wrote (wsa:To naming it), as
// the page shows, and each request gets a MessageID of its own. It skips
// while that page (written apart) does not exist.
func TestDemoWSAddressing(t *testing.T) {
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	steps := readmeSteps(t, "addressing")
	messageID := regexp.MustCompile(`urn:uuid:[0-9a-f-]{36}`)
	seen := map[string]bool{}
	for range 3 {
		for _, s := range steps {
			id := messageID.FindString(s.run(t))
			if id == "" || seen[id] {
				t.Fatalf("MessageID %q missing or sent twice", id)
			}
			seen[id] = true
		}
	}
}
