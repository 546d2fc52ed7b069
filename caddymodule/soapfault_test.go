package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// The Caddy-level tests share one in-process Caddy (see testConfig) and must
// not run in parallel with each other or with other packages' Caddy tests.
// The examples here are written for the default ports (admin 2999, sites on
// :9080); sfServe and sfPost move them to the configured ones.

func sfGlobals() string {
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
}
`, adminPort, httpPort, httpPort+1)
}

const (
	sfNS11 = "http://schemas.xmlsoap.org/soap/envelope/"
	sfNS12 = "http://www.w3.org/2003/05/soap-envelope"

	sfSOAP11Request = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"/></soapenv:Body></soapenv:Envelope>`
	sfSOAP12Request = `<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Header/><soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"/></soapenv:Body></soapenv:Envelope>`
)

// sfDemoUpstreamsDown points an example's upstreams, the demo backends on
// localhost:9001-9003 that the example expects to be stopped, at ports on
// which nothing listens, so that the test does not depend on what else runs
// on the machine.
func sfDemoUpstreamsDown(t *testing.T, site string) string {
	t.Helper()
	for _, demo := range []string{"localhost:9001", "localhost:9002", "localhost:9003"} {
		if !strings.Contains(site, demo) {
			t.Fatalf("the example no longer proxies to %s; update the test:\n%s", demo, site)
		}
		site = strings.ReplaceAll(site, demo, deadAddr(t))
	}
	return site
}

// sfServe loads site (a Caddyfile without global options) into Caddy.
func sfServe(t *testing.T, site string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	site = strings.ReplaceAll(site, ":9080 {", fmt.Sprintf(":%d {", httpPort))
	tester.InitServer(sfGlobals()+site, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	return tester
}

func sfPost(t *testing.T, tester *caddytest.Tester, url, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	url = strings.Replace(url, "http://localhost:9080", proxyURL, 1)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sfFault is a fault parsed back from a response, element by element.
type sfFault struct {
	Version          string // soap11, soap12, pox
	Code             string // prefix:Local as written
	CodeNS           string // namespace the code's prefix is bound to
	Reason, Lang     string
	Role, Node       string
	DetailXML        string // the detail element's content, re-serialized
	DetailText       string
	StatusCode       int
	ContentType      string
	DetailChildCount int
}

// sfParseFault checks the envelope structure strictly (names, namespaces,
// prefixes, child order, nothing extra) and returns what it carries.
func sfParseFault(t *testing.T, resp *http.Response, body []byte) sfFault {
	t.Helper()
	got := sfFault{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		t.Fatalf("fault is not well-formed XML: %v\n%s", err, body)
	}
	if len(doc.Child) != 1 {
		t.Fatalf("want exactly one root token, got %d in\n%s", len(doc.Child), body)
	}
	root := doc.Root()
	only := func(e *etree.Element, space, tag, ns string) *etree.Element {
		t.Helper()
		kids := e.ChildElements()
		if len(kids) != 1 || kids[0].Space != space || kids[0].Tag != tag || kids[0].NamespaceURI() != ns {
			t.Fatalf("<%s> must contain exactly <%s:%s> in %s, got %d children in\n%s", e.FullTag(), space, tag, ns, len(kids), body)
		}
		return kids[0]
	}
	detail := func(e *etree.Element) {
		got.DetailText = e.Text()
		got.DetailChildCount = len(e.ChildElements())
		c, d := e.Copy(), etree.NewDocument()
		for len(c.Child) > 0 {
			d.AddChild(c.Child[0]) // moves it out of c
		}
		s, _ := d.WriteToString()
		got.DetailXML = s
	}
	switch {
	case root.Tag == "Exception" && root.Space == "":
		got.Version = "pox"
		got.Reason = root.Text()
		if len(root.ChildElements()) > 0 {
			detail(root)
		}
		return got
	case root.Space == "soapenv" && root.Tag == "Envelope" && root.NamespaceURI() == sfNS11:
		got.Version = "soap11"
		fault := only(only(root, "soapenv", "Body", sfNS11), "soapenv", "Fault", sfNS11)
		kids := fault.ChildElements()
		want := []string{"faultcode", "faultstring", "faultactor", "detail"}
		i := 0
		for _, k := range kids {
			for i < len(want) && k.Tag != want[i] {
				i++
			}
			if i == len(want) || k.Space != "" || k.NamespaceURI() != "" {
				t.Fatalf("unexpected or misplaced <%s> in SOAP 1.1 fault\n%s", k.FullTag(), body)
			}
			switch k.Tag {
			case "faultcode":
				got.Code = k.Text()
				prefix, _, _ := strings.Cut(got.Code, ":")
				got.CodeNS = k.SelectAttrValue("xmlns:"+prefix, "")
			case "faultstring":
				got.Reason = k.Text()
			case "faultactor":
				got.Role = k.Text()
			case "detail":
				detail(k)
			}
			i++
		}
	case root.Space == "soapenv" && root.Tag == "Envelope" && root.NamespaceURI() == sfNS12:
		got.Version = "soap12"
		fault := only(only(root, "soapenv", "Body", sfNS12), "soapenv", "Fault", sfNS12)
		want := []string{"Code", "Reason", "Node", "Role", "Detail"}
		i := 0
		for _, k := range fault.ChildElements() {
			for i < len(want) && k.Tag != want[i] {
				i++
			}
			if i == len(want) || k.Space != "soapenv" || k.NamespaceURI() != sfNS12 {
				t.Fatalf("unexpected or misplaced <%s> in SOAP 1.2 fault\n%s", k.FullTag(), body)
			}
			switch k.Tag {
			case "Code":
				v := only(k, "soapenv", "Value", sfNS12)
				got.Code = v.Text()
				prefix, _, _ := strings.Cut(got.Code, ":")
				got.CodeNS = v.SelectAttrValue("xmlns:"+prefix, "")
			case "Reason":
				txt := only(k, "soapenv", "Text", sfNS12)
				got.Reason = txt.Text()
				got.Lang = txt.SelectAttrValue("xml:lang", "")
			case "Node":
				got.Node = k.Text()
			case "Role":
				got.Role = k.Text()
			case "Detail":
				detail(k)
			}
			i++
		}
	default:
		t.Fatalf("not a fault: root <%s>\n%s", root.FullTag(), body)
	}
	return got
}

func sfExpect(t *testing.T, got, want sfFault) {
	t.Helper()
	if got != want {
		t.Errorf("fault mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

func sfDefault11(reason string) sfFault {
	return sfFault{Version: "soap11", Code: "soap11Env:VersionMismatch", CodeNS: sfNS11, Reason: reason, StatusCode: 500, ContentType: "text/xml; charset=UTF-8"}
}

func sfReadTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "soap_fault", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSOAPFaultRefused: every upstream refuses connections (502), the client
// gets Synapse's default SOAP 1.1 fault, byte for byte.
func TestSOAPFaultRefused(t *testing.T) {
	a, b := deadAddr(t), deadAddr(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault
	reverse_proxy %s %s {
		lb_retries 1
	}
}
`, a, b))
	resp, body := sfPost(t, tester, "http://localhost:9080/services/LoadBalanceProxy", "text/xml; charset=UTF-8", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfDefault11("COULDN'T SEND THE MESSAGE TO THE SERVER."))
	if want := sfReadTestdata(t, "default_soap11.xml"); string(body) != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	for _, leak := range []string{a, b, "127.0.0.1", "dial", "refused"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("fault leaks %q: %s", leak, body)
		}
	}
}

// TestSOAPFaultNoneAvailable: after a failure marks the only upstream down
// (passive health), reverse_proxy answers 503 without dialing; both answers
// are faults, and the reason placeholder tells which error each replaced.
func TestSOAPFaultNoneAvailable(t *testing.T) {
	up := deadAddr(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		version soap12
		code Receiver
		reason "upstream error {http.error.status_code}"
	}
	reverse_proxy %s {
		fail_duration 1m
	}
}
`, up))
	want := sfFault{Version: "soap12", Code: "soap12Env:Receiver", CodeNS: sfNS12, Lang: "en", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"}
	resp, body := sfPost(t, tester, "http://localhost:9080/", "application/soap+xml", sfSOAP12Request)
	want.Reason = "upstream error 502"
	sfExpect(t, sfParseFault(t, resp, body), want)

	resp, body = sfPost(t, tester, "http://localhost:9080/", "application/soap+xml", sfSOAP12Request)
	want.Reason = "upstream error 503"
	sfExpect(t, sfParseFault(t, resp, body), want)

	metrics := sfAdminMetrics(t)
	for _, s := range []string{"502", "503"} {
		if !regexp.MustCompile(`caddy_soap_affinity_faults_total\{status="` + s + `"\} [1-9]`).MatchString(metrics) {
			t.Errorf("no faults counted for status %s in /metrics:\n%s", s, sfGrep(metrics, "soap_affinity"))
		}
	}
}

func sfAdminMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func sfGrep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSOAPFaultTimeout: a real backend that answers after the proxy's
// response_header_timeout gives 504, answered as a POX fault here.
func TestSOAPFaultTimeout(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "too late")
	}))
	defer backend.Close()
	defer close(release)

	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		version pox
		reason "timed out: {http.error.status_code} <{http.error.status_text}>"
	}
	reverse_proxy %s {
		transport http {
			response_header_timeout 200ms
		}
	}
}
`, strings.TrimPrefix(backend.URL, "http://")))
	start := time.Now()
	resp, body := sfPost(t, tester, "http://localhost:9080/", "application/json", `{}`)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v; the timeout did not apply", d)
	}
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "pox", Reason: "timed out: 504 <Gateway Timeout>", StatusCode: 500, ContentType: "application/xml; charset=UTF-8"})
	if want := "<Exception>timed out: 504 &lt;Gateway Timeout&gt;</Exception>"; string(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

// TestSOAPFaultVersions checks each version's envelope with every option set.
func TestSOAPFaultVersions(t *testing.T) {
	up := deadAddr(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	route /soap11 {
		soap_fault {
			version soap11
			code s:Server
			reason "a & b < c"
			actor urn:proxy
			detail `+"`"+`<e:err xmlns:e="urn:e" code="7">down</e:err>`+"`"+`
			status 503
		}
		reverse_proxy %[1]s
	}
	route /soap12 {
		soap_fault {
			version soap12
			code soap12Env:Sender
			reason "bad"
			role urn:role
			node http://proxy/
			detail "plain detail"
		}
		reverse_proxy %[1]s
	}
	route /pox {
		soap_fault {
			version pox
			detail "<why>all upstreams down</why>"
		}
		reverse_proxy %[1]s
	}
}
`, up))
	resp, body := sfPost(t, tester, "http://localhost:9080/soap11", "text/xml", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap11", Code: "s:Server", CodeNS: sfNS11, Reason: "a & b < c", Role: "urn:proxy",
		DetailXML: `<e:err xmlns:e="urn:e" code="7">down</e:err>`, DetailChildCount: 1, StatusCode: 503, ContentType: "text/xml; charset=UTF-8"})

	resp, body = sfPost(t, tester, "http://localhost:9080/soap12", "text/xml", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap12", Code: "soap12Env:Sender", CodeNS: sfNS12, Reason: "bad", Lang: "en", Role: "urn:role", Node: "http://proxy/",
		DetailXML: "plain detail", DetailText: "plain detail", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"})

	resp, body = sfPost(t, tester, "http://localhost:9080/pox", "text/xml", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "pox", DetailXML: "<why>all upstreams down</why>", DetailChildCount: 1, StatusCode: 500, ContentType: "application/xml; charset=UTF-8"})
	if want := "<Exception><why>all upstreams down</why></Exception>"; string(body) != want {
		t.Errorf("POX body %s, want %s", body, want)
	}
}

// TestSOAPFaultAuto answers each request in its own version.
func TestSOAPFaultAuto(t *testing.T) {
	up := deadAddr(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		version auto
		code Client
	}
	reverse_proxy %s
}
`, up))
	const reason = "COULDN'T SEND THE MESSAGE TO THE SERVER."
	resp, body := sfPost(t, tester, "http://localhost:9080/", "text/xml; charset=UTF-8", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap11", Code: "soap11Env:Client", CodeNS: sfNS11, Reason: reason, StatusCode: 500, ContentType: "text/xml; charset=UTF-8"})

	resp, body = sfPost(t, tester, "http://localhost:9080/", `application/soap+xml; charset=UTF-8; action="urn:placeOrder"`, sfSOAP12Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap12", Code: "soap12Env:Sender", CodeNS: sfNS12, Reason: reason, Lang: "en", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"})

	resp, body = sfPost(t, tester, "http://localhost:9080/", "application/json", `{"order":1}`)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "pox", Reason: reason, StatusCode: 500, ContentType: "application/xml; charset=UTF-8"})

	resp, body = sfPost(t, tester, "http://localhost:9080/", "", "")
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "pox", Reason: reason, StatusCode: 500, ContentType: "application/xml; charset=UTF-8"})
}

// TestSOAPFaultPassThrough: what an upstream sent, its own fault or a 404,
// reaches the client untouched; only the proxy's own failures become faults.
func TestSOAPFaultPassThrough(t *testing.T) {
	const upstreamFault = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Invalid symbol</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fault":
			w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, upstreamFault)
		case "/bad-gateway":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "upstream's own 502")
		default:
			http.NotFound(w, r)
		}
	}))
	defer backend.Close()
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault
	reverse_proxy %s
}
`, strings.TrimPrefix(backend.URL, "http://")))

	resp, body := sfPost(t, tester, "http://localhost:9080/fault", "text/xml", sfSOAP11Request)
	if resp.StatusCode != 500 || string(body) != upstreamFault {
		t.Errorf("upstream fault: got %d %s", resp.StatusCode, body)
	}
	resp, body = sfPost(t, tester, "http://localhost:9080/missing", "text/xml", sfSOAP11Request)
	if resp.StatusCode != 404 || string(body) != "404 page not found\n" {
		t.Errorf("upstream 404: got %d %q", resp.StatusCode, body)
	}
	resp, body = sfPost(t, tester, "http://localhost:9080/bad-gateway", "text/xml", sfSOAP11Request)
	if resp.StatusCode != 502 || string(body) != "upstream's own 502" {
		t.Errorf("upstream 502: got %d %q", resp.StatusCode, body)
	}
}

// TestSOAPFaultOnStatuses: statuses not listed in on are left to Caddy.
func TestSOAPFaultOnStatuses(t *testing.T) {
	up := deadAddr(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		on 503
	}
	reverse_proxy %s
}
`, up))
	resp, body := sfPost(t, tester, "http://localhost:9080/", "text/xml", sfSOAP11Request)
	if resp.StatusCode != 502 || len(body) != 0 {
		t.Errorf("502 not in on: got %d %q, want Caddy's empty 502", resp.StatusCode, body)
	}
}
