package e2e

import (
	"regexp"
	"testing"
)

// The README's WS-Addressing example: the demo backend echoes what it got.
const demoAddressing = `curl -s -w 'served by %header{x-backend}\n' \
  http://localhost:8290/services/LoadBalanceProxy \
  -H 'Content-Type: text/xml;charset=UTF-8' \
  -H 'simpleClientSession: 123' -H 'X-Echo: true' \
  --data-binary @examples/placeOrder.xml`

// demoAddressedHeader is the Header the demo's proxy writes into
// examples/placeOrder.xml (whose Header is empty).
var demoAddressedHeader = regexp.MustCompile(`(?m)^   <soapenv:Header xmlns:wsa="http://www.w3.org/2005/08/addressing">` +
	`<wsa:To>http://(localhost:900[123])/services/LoadBalanceProxy</wsa:To>` +
	`<wsa:MessageID>urn:uuid:[0-9a-f-]{36}</wsa:MessageID>` +
	`<wsa:Action>urn:placeOrder</wsa:Action></soapenv:Header>\n   <soapenv:Body>\n`)

// TestDemoWSAddressing runs the README's WS-Addressing example against the
// demo: the backend that served the request is the one wsa:To names, and each
// request gets its own MessageID.
func TestDemoWSAddressing(t *testing.T) {
	requireInReadme(t, demoAddressing)
	startCaddy(t, "Caddyfile.example", "localhost:2019")

	ids := map[string]bool{}
	for range 3 {
		out := bash(t, demoAddressing)
		m := demoAddressedHeader.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the backend got\n%s\nwant the Header to match %s", out, demoAddressedHeader)
		}
		if !regexp.MustCompile(`(?m)^served by ` + regexp.QuoteMeta(m[1]) + `$`).MatchString(out) {
			t.Fatalf("wsa:To names %s, but another backend served the request:\n%s", m[1], out)
		}
		id := regexp.MustCompile(`urn:uuid:[0-9a-f-]{36}`).FindString(out)
		if ids[id] {
			t.Fatalf("MessageID %s sent twice", id)
		}
		ids[id] = true
	}
}
