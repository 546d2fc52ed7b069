package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docPage is the reference page of the ws_addressing transport.
const docPage = "../docs/addressing.md"

// docBlocks returns the fenced blocks of lang in the reference page.
func docBlocks(t *testing.T, lang string) []string {
	t.Helper()
	return docBlocksOf(t, docPage, lang)
}

// docBlocksOf returns the fenced blocks of lang in a page of docs.
func docBlocksOf(t *testing.T, page, lang string) []string {
	t.Helper()
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```\n")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	return out
}

// docBackends stands in for the page's upstreams: localhost:9001..9003 plain
// HTTP, localhost:9443 TLS with its CA at /etc/caddy/backend-ca.pem.
type docBackends struct {
	plain []*backend
	tls   *backend
	caPEM string
}

func newDocBackends(t *testing.T) *docBackends {
	d := &docBackends{plain: startBackends(t, 3), tls: newTLSBackend(t, "tls")}
	d.caPEM = filepath.Join(t.TempDir(), "backend-ca.pem")
	if err := os.WriteFile(d.caPEM, d.tls.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// adapt puts the test backends (and, for the failover example, a dead first
// upstream) and the test site port into an example.
func (d *docBackends) adapt(t *testing.T, example string) string {
	t.Helper()
	pairs := []string{
		":8290 {", fmt.Sprintf(":%d {", httpPort),
		`"listen": [":8290"]`, fmt.Sprintf(`"listen": [":%d"]`, httpPort),
		"localhost:9443", d.tls.addr,
		"/etc/caddy/backend-ca.pem", d.caPEM,
	}
	for i, b := range d.plain {
		addr := b.addr
		if i == 0 && strings.Contains(example, "lb_policy first") {
			addr = deadAddr(t) // so that the example fails over
		}
		pairs = append(pairs, fmt.Sprintf("localhost:900%d", i+1), addr)
	}
	out := strings.NewReplacer(pairs...).Replace(example)
	if strings.Contains(out, "localhost:9") || strings.Contains(out, "/etc/caddy") {
		t.Fatalf("example has an address the test does not replace:\n%s", example)
	}
	return out
}

func (d *docBackends) all() []*backend { return append(append([]*backend(nil), d.plain...), d.tls) }

// checkExample sends a SOAP request through the loaded example and checks
// that the backend that got it received it addressed as the example says.
func (d *docBackends) checkExample(t *testing.T, example string) (rec received, to, id string) {
	t.Helper()
	req := soapRequest("1.1", "c1")
	req.path = servicePath
	req.header["SOAPAction"] = "urn:getQuote"
	action := "urn:getQuote"
	if m := regexp.MustCompile(`header_up SOAPAction "([^"]*)"`).FindStringSubmatch(example); m != nil {
		action = m[1]
	}
	decl, extra := wsaFinalDecl, ""
	if strings.Contains(example, "version submission") || strings.Contains(example, `"version": "submission"`) {
		decl = wsaSubmissionDecl
		extra = "<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>"
	}
	rep := send(t, req)
	bs := d.all()
	rec = lastReceived(t, bs, rep)
	scheme := "http"
	if rep.backend == "tls" {
		scheme = "https"
	}
	to = scheme + "://" + backendNamed(t, bs, rep.backend).addr + servicePath
	id = addressedBody(t, rec, req.body, soapHeaderTag, decl, to, action, extra)
	return rec, to, id
}

// The Caddyfile examples of the ws_addressing reference page load and do what
// it says.
func TestAddressingDocCaddyfileExamples(t *testing.T) {
	examples := docBlocks(t, "caddyfile")
	if len(examples) < 4 {
		t.Fatalf("%s has %d caddyfile examples, want the 4 it is written with", docPage, len(examples))
	}
	outputs := docBlocks(t, "text")
	if len(outputs) == 0 {
		t.Fatalf("%s lost the example output", docPage)
	}
	for i, example := range examples {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) {
			d := newDocBackends(t)
			initCaddy(t, testGlobals("")+d.adapt(t, example))
			rec, to, id := d.checkExample(t, example)
			if i == 0 {
				// The output shown is what a backend gets, but for its address
				// and MessageID.
				var line string
				for _, l := range strings.Split(outputs[0], "\n") {
					if strings.Contains(l, "<soapenv:Header") {
						line = strings.TrimSpace(l)
					}
				}
				line = regexp.MustCompile(`http://localhost:\d+[^<]*`).ReplaceAllString(line, to)
				line = regexp.MustCompile(`urn:uuid:[0-9a-f-]+`).ReplaceAllString(line, id)
				line = strings.TrimSuffix(line, "</soapenv:Header>") // the test's request has a block of its own
				if line == "" || !strings.Contains(string(rec.Body), line) {
					t.Errorf("the page shows\n%s\nthe backend got\n%s", line, rec.Body)
				}
			}
		})
	}
}

// The JSON example of the ws_addressing reference page, as the one handler of
// a route.
func TestAddressingDocJSONExample(t *testing.T) {
	examples := docBlocks(t, "json")
	if len(examples) != 1 {
		t.Fatalf("%s has %d json examples, want 1", docPage, len(examples))
	}
	d := newDocBackends(t)
	initCaddyWith(t, jsonConfig(d.adapt(t, examples[0])), "json")
	d.checkExample(t, examples[0])
}
