package e2e

import (
	"strings"
	"testing"
)

const faultWalkthrough = `curl -si http://localhost:8290/services/LoadBalanceProxy \
  -H 'Content-Type: text/xml;charset=UTF-8' \
  -H 'simpleClientSession: 123' \
  --data-binary @examples/placeOrder.xml`

// TestFaultWalkthroughAsTheReadmeShowsIt runs the demo's proxy without its
// backends and sends the README's request: the client gets the SOAP fault.
func TestFaultWalkthroughAsTheReadmeShowsIt(t *testing.T) {
	requireInReadme(t, "go run ./cmd/caddy run --config examples/proxy-only.Caddyfile")
	requireInReadme(t, faultWalkthrough)
	startCaddy(t, "examples/proxy-only.Caddyfile", "localhost:2019")

	for _, attempt := range []string{"refused (502)", "marked down (503)"} {
		out := strings.ReplaceAll(bash(t, faultWalkthrough), "\r\n", "\n")
		head, body, _ := strings.Cut(out, "\n\n")
		for _, want := range []string{"HTTP/1.1 500 Internal Server Error", "Content-Type: text/xml; charset=UTF-8", "Content-Length: 330"} {
			if !strings.Contains(head, want) {
				t.Fatalf("%s: response head lacks %q:\n%s", attempt, want, head)
			}
		}
		if !strings.Contains(readme(t), body) || !strings.Contains(body, "<faultstring>COULDN'T SEND THE MESSAGE TO THE SERVER.</faultstring>") {
			t.Fatalf("%s: fault body is not the README's:\n%s", attempt, body)
		}
	}
}
