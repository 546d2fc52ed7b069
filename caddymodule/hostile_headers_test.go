package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// Request headers as a hostile client may send them, written into XML by
// the plugin: a SOAPAction into ws_addressing's wsa:Action, any header into a
// soap_fault reason through a placeholder. Each comes out as XML text: the
// message stays well-formed and reads back as the header, with the
// characters that XML cannot carry (here bytes that are not UTF-8) as U+FFFD.
// (Go's HTTP server refuses control characters in a header value before any
// handler runs.)

// hostileHeaderValue is a request header value, the XML text it must be
// written as, and the text that reads back from it.
type hostileHeaderValue struct{ name, value, escaped, text string }

func hostileHeaderValues() []hostileHeaderValue {
	big := strings.Repeat("urn:big/", 12<<7) // 12 KiB: near Caddy's default header limit, 16 KiB in all
	return []hostileHeaderValue{
		{"markup", `urn:a]]></wsa:Action><x a="&amp;">&<`, `urn:a]]&gt;&lt;/wsa:Action&gt;&lt;x a="&amp;amp;"&gt;&amp;&lt;`, `urn:a]]></wsa:Action><x a="&amp;">&<`},
		{"not_utf8", "urn:\xff\xfe\xc3(", "urn:\uFFFD\uFFFD\uFFFD(", "urn:\uFFFD\uFFFD\uFFFD("},
		{"noncharacters", "urn:\uFFFE\uFFFF", "urn:\uFFFD\uFFFD", "urn:\uFFFD\uFFFD"},
		{"12KiB", big, big, big},
	}
}

func TestAddressingHostileSOAPAction(t *testing.T) {
	b := newBackend(t, "b1")
	initCaddy(t, reverseProxyConfig(b.addr, "transport ws_addressing"))
	for _, hv := range hostileHeaderValues() {
		t.Run(hv.name, func(t *testing.T) {
			req := soapRequest("1.1", "c1")
			req.header["SOAPAction"] = `"` + hv.value + `"`
			rec := lastReceived(t, []*backend{b}, send(t, req))
			addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, "http://"+b.addr+"/", hv.escaped, "")
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(rec.Body); err != nil {
				t.Fatalf("the upstream got XML that is not well-formed: %v\n%.2000s", err, rec.Body)
			}
			if got := doc.FindElement("//Header/Action").Text(); got != hv.text {
				t.Errorf("wsa:Action reads %.200q, want %.200q", got, hv.text)
			}
		})
	}
}

func TestSOAPFaultReasonFromHostileHeader(t *testing.T) {
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		reason "no upstream for {http.request.header.SOAPAction}"
	}
	reverse_proxy %s
}
`, deadAddr(t)))
	for _, hv := range hostileHeaderValues() {
		t.Run(hv.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, proxyURL+"/", strings.NewReader(sfSOAP11Request))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/xml")
			req.Header.Set("SOAPAction", hv.value)
			resp, err := tester.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want the fault's 500: %.300q", resp.StatusCode, body)
			}
			sfExpect(t, sfParseFault(t, resp, body), sfDefault11("no upstream for "+hv.text))
			if !strings.Contains(string(body), "no upstream for "+hv.escaped) {
				t.Errorf("the reason is not %q escaped as XML text in\n%.2000s", hv.value, body)
			}
		})
	}
}

// A session header that cannot name a session (over max_id_length, near
// Caddy's header limit, not UTF-8, or such a first line of 300) is no
// session: the fallback's round robin places each request and nothing is
// stored.
func TestHostileSessionHeaderIsNoSession(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "{\n\t\t\tname hostile_header\n\t\t}", ""))
	repeated := []string{strings.Repeat("r", 257)}
	for i := range 299 {
		repeated = append(repeated, fmt.Sprintf("line-%d", i))
	}
	for name, lines := range map[string][]string{
		"257_bytes":                {strings.Repeat("i", 257)},
		"12KiB":                    {strings.Repeat("i", 12<<10)},
		"not_utf8":                 {"id-\xff\xfe"},
		"300_lines_first_too_long": repeated,
	} {
		t.Run(name, func(t *testing.T) {
			if a, b := postSessionLines(t, lines...), postSessionLines(t, lines...); a == b {
				t.Errorf("both requests on %s: want the fallback's round robin", a)
			}
		})
	}
	if n := sessionTable(t, "hostile_header").Len(); n != 0 {
		t.Errorf("%d sessions stored, want none", n)
	}
}
