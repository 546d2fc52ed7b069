package e2e

import "testing"

// TestFaultWalkthroughAsTheReadmeShowsIt runs the demo's proxy without its
// backends and sends the request of docs/soap_fault.md: the client gets the
// SOAP fault the page shows, first when every upstream refuses (502), then while they are
// marked down (503).
func TestFaultWalkthroughAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "docs/soap_fault.md", "go run ./cmd/caddy run --config examples/proxy-only.Caddyfile")
	startCaddy(t, "examples/proxy-only.Caddyfile", "localhost:2019")
	for range 2 {
		runAll(t, "fault")
	}
}
