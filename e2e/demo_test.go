package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's demo walkthrough, command for command.
const (
	demoSameSession = `for i in 1 2 3 4; do
  curl -s -o /dev/null -w '%{http_code} %header{x-backend}\n' \
    http://localhost:8290/services/LoadBalanceProxy \
    -H 'Content-Type: text/xml;charset=UTF-8' \
    -H 'simpleClientSession: 123' \
    --data-binary @examples/placeOrder.xml
done`

	demoNewSessions = `for id in a b c; do
  curl -s -o /dev/null -w "$id %header{x-backend}\n" \
    http://localhost:8290/services/LoadBalanceProxy \
    -H 'Content-Type: text/xml;charset=UTF-8' \
    -H "simpleClientSession: $id" \
    --data-binary @examples/placeOrder.xml
done`

	demoSOAP11ClientID = `for i in 1 2 3; do
  curl -s -o /dev/null -w '%{http_code} %header{x-backend}\n' \
    http://localhost:8290/services/LoadBalanceProxy \
    -H 'Content-Type: text/xml;charset=UTF-8' \
    --data-binary @examples/placeOrder-clientid.xml
done`

	demoSOAP12ClientID = `for i in 1 2 3; do
  curl -s -o /dev/null -w '%{http_code} %header{x-backend}\n' \
    http://localhost:8290/services/LoadBalanceProxy \
    -H 'Content-Type: application/soap+xml;charset=UTF-8' \
    --data-binary @examples/placeOrder-soap12.xml
done`

	demoGetQuote = `curl -s http://localhost:9001/services/SimpleStockQuoteService \
  -H 'Content-Type: text/xml;charset=UTF-8' -H 'SOAPAction: urn:getQuote' \
  --data-binary @examples/placeOrder.xml`
)

// TestDemoAsTheReadmeShowsIt runs Caddyfile.example with the built binary and
// sends the README's requests.
func TestDemoAsTheReadmeShowsIt(t *testing.T) {
	requireInReadme(t, "go run ./cmd/caddy run --config Caddyfile.example")
	startCaddy(t, "Caddyfile.example", "localhost:2019")

	sameBackend := func(name, command string, n int) {
		t.Helper()
		requireInReadme(t, command)
		lines := strings.Split(strings.TrimSpace(bash(t, command)), "\n")
		if len(lines) != n {
			t.Fatalf("%s: got %d lines, want %d: %q", name, len(lines), n, lines)
		}
		for _, l := range lines {
			if l != lines[0] || !strings.HasPrefix(l, "202 localhost:900") {
				t.Fatalf("%s: got %q, want %d identical lines '202 localhost:900N'", name, lines, n)
			}
		}
	}
	sameBackend("HTTP header session", demoSameSession, 4)
	sameBackend("SOAP 1.1 ClientID", demoSOAP11ClientID, 3)
	sameBackend("SOAP 1.2 ClientID", demoSOAP12ClientID, 3)

	requireInReadme(t, demoNewSessions)
	backends := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(bash(t, demoNewSessions)), "\n") {
		_, b, _ := strings.Cut(l, " ")
		backends[b] = true
	}
	if len(backends) != 3 {
		t.Fatalf("new sessions a, b, c went to %v; want three backends (round robin)", backends)
	}

	requireInReadme(t, demoGetQuote)
	if out := bash(t, demoGetQuote); !strings.Contains(out, "getQuoteResponse") || !strings.Contains(out, "localhost:9001") {
		t.Fatalf("getQuote answered %q", out)
	}
}

// TestReadmeShowsTheAdaptGoldens keeps the README's configuration reference
// equal to the golden adapt files that caddymodule's tests check.
func TestReadmeShowsTheAdaptGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "caddymodule", "testdata", "adapt", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		caddyfile, json, _ := strings.Cut(string(data), "----------\n")
		requireInReadme(t, caddyfile)
		requireInReadme(t, strings.TrimRight(json, "\n"))
	}
}
