package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

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

// sfClosedPort returns a loopback address on which nothing listens.
func sfClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// sfRequireClosed skips the test if something listens on one of the addresses
// that an example expects to be down.
func sfRequireClosed(t *testing.T, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("%s is in use; the example needs it closed", a)
		}
	}
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
	a, b := sfClosedPort(t), sfClosedPort(t)
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
	up := sfClosedPort(t)
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
	up := sfClosedPort(t)
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
	up := sfClosedPort(t)
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
	up := sfClosedPort(t)
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

// TestSOAPFaultHandleErrors loads the README's handle_errors example.
func TestSOAPFaultHandleErrors(t *testing.T) {
	sfRequireClosed(t, "localhost:9001", "localhost:9002", "localhost:9003")
	tester := sfServe(t, sfReadTestdata(t, "handle_errors.caddyfile"))
	resp, body := sfPost(t, tester, "http://localhost:8290/", "application/soap+xml", sfSOAP12Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap12", Code: "soap12Env:Receiver", CodeNS: sfNS12, Lang: "en",
		Reason: "Service unavailable (HTTP 502), please retry", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"})
	resp, body = sfPost(t, tester, "http://localhost:8290/", "text/xml", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap11", Code: "soap11Env:Server", CodeNS: sfNS11,
		Reason: "Service unavailable (HTTP 502), please retry", StatusCode: 500, ContentType: "text/xml; charset=UTF-8"})
}

// sfProxyOnly is examples/proxy-only.Caddyfile, the demo's proxy without its
// backends, which must be the proxy of Caddyfile.example to the letter.
func sfProxyOnly(t *testing.T) string {
	t.Helper()
	proxy, err := os.ReadFile("../examples/proxy-only.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	site := string(proxy[strings.Index(string(proxy), ":8290 {"):])
	if !strings.Contains(string(demo), site) {
		t.Fatalf("examples/proxy-only.Caddyfile is not the proxy of Caddyfile.example:\n%s", site)
	}
	return string(proxy)
}

// TestSOAPFaultWalkthrough runs the README walkthrough: the demo backends are
// stopped, the client gets the default fault.
func TestSOAPFaultWalkthrough(t *testing.T) {
	sfRequireClosed(t, "localhost:9001", "localhost:9002", "localhost:9003")
	tester := sfServe(t, sfProxyOnly(t))
	resp, body := sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "text/xml;charset=UTF-8", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfDefault11("COULDN'T SEND THE MESSAGE TO THE SERVER."))
	if want := sfReadTestdata(t, "default_soap11.xml"); string(body) != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
	if resp.ContentLength != 330 {
		t.Errorf("Content-Length %d, README says 330", resp.ContentLength)
	}
	// Now the upstreams are marked down (fail_duration): 503, the same fault.
	resp, body2 := sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "text/xml;charset=UTF-8", sfSOAP11Request)
	if resp.StatusCode != 500 || string(body2) != string(body) {
		t.Errorf("second request: %d %s", resp.StatusCode, body2)
	}
	// The SOAP 1.2 default, as the README shows it.
	tester = sfServe(t, strings.Replace(sfProxyOnly(t), "version soap11", "version soap12", 1))
	resp, body = sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "application/soap+xml", sfSOAP12Request)
	if want := sfReadTestdata(t, "default_soap12.xml"); string(body) != want || resp.Header.Get("Content-Type") != "application/soap+xml; charset=UTF-8" {
		t.Errorf("SOAP 1.2 default: %s %s\nwant\n%s", resp.Header.Get("Content-Type"), body, want)
	}
}

// TestSOAPFaultAdapt is the golden caddy adapt test of the full syntax.
func TestSOAPFaultAdapt(t *testing.T) {
	caddyfile, want := sfAdaptGolden(t)
	caddytest.AssertAdapt(t, caddyfile, "caddyfile", want)
}

func sfAdaptGolden(t *testing.T) (caddyfile, json string) {
	t.Helper()
	parts := strings.SplitN(sfReadTestdata(t, "adapt.caddyfiletest"), "\n----------\n", 2)
	if len(parts) != 2 {
		t.Fatal("adapt.caddyfiletest: no ---------- separator")
	}
	return parts[0] + "\n", strings.TrimSpace(parts[1])
}

// TestSOAPFaultConfigErrors: bad values fail at load, and the error names them.
func TestSOAPFaultConfigErrors(t *testing.T) {
	caddyfiles := []struct{ block, want string }{
		{"version soap13", `"soap13"`},
		{"code soap11Env:Bogus", `"Bogus"`},
		{"version soap12\n\t\tcode soap11Env:Client", `"soap11Env:Client"`},
		{"detail `<a><b></a>`", `<a><b></a>`},
		{"status abc", `"abc"`},
		{"status 99", "99"},
		{"on 200", "200"},
		{"on x5x", `"x5x"`},
		{"node urn:n", `"urn:n"`},
		{"colour red", `"colour"`},
		{"reason", "wrong argument count"},
	}
	for _, tc := range caddyfiles {
		t.Run("caddyfile/"+tc.block, func(t *testing.T) {
			assertLoadError(t, testConfig("\tsoap_fault {\n\t\t"+tc.block+"\n\t}\n\trespond 200"), "caddyfile", sfJSONEscaped(tc.want))
		})
	}
	jsons := []struct{ handler, want string }{
		{`"version": "soap13"`, `soap13`},
		{`"code": "x:Nope"`, `Nope`},
		{`"detail": "<a>"`, `detail "<a>"`},
		{`"status_code": 700`, "700"},
		{`"on": [302]`, "302"},
	}
	for _, tc := range jsons {
		t.Run("json/"+tc.handler, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"admin":{"listen":"localhost:%d"},"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%d"],"routes":[{"handle":[{"handler":"soap_fault",`+tc.handler+`}]}]}}}}}`, adminPort, httpPort, httpPort)
			assertLoadError(t, cfg, "json", sfJSONEscaped(tc.want))
		})
	}
}

// sfJSONEscaped returns s as it appears in the admin API's JSON error.
func sfJSONEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TestSOAPFaultREADME: every example in the README is one of the testdata
// files that the tests above load, and every such file is in the README.
func TestSOAPFaultREADME(t *testing.T) {
	var readme string
	for _, p := range []string{"../README.md"} {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "soap_fault") {
			readme = string(b)
			break
		}
	}
	if readme == "" {
		t.Fatal("no README documents soap_fault")
	}
	adaptCaddyfile, adaptJSON := sfAdaptGolden(t)
	examples := map[string]string{
		"caddyfile:proxy-only.Caddyfile":    sfProxyOnly(t),
		"caddyfile:handle_errors.caddyfile": sfReadTestdata(t, "handle_errors.caddyfile"),
		"caddyfile:adapt.caddyfiletest":     adaptCaddyfile,
		"xml:default_soap11.xml":            sfReadTestdata(t, "default_soap11.xml"),
		"xml:default_soap12.xml":            sfReadTestdata(t, "default_soap12.xml"),
	}
	found := map[string]bool{}
	block := regexp.MustCompile("(?ms)^```(caddyfile|json|xml)\n(.*?)^```")
	for _, m := range block.FindAllStringSubmatch(readme, -1) {
		lang, text := m[1], strings.TrimSpace(m[2])
		if lang == "json" && strings.Contains(text, `"soap_fault"`) {
			var got, want any
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Errorf("README JSON does not parse: %v\n%s", err, text)
				continue
			}
			_ = json.Unmarshal([]byte(adaptJSON), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("README JSON is not the adapt golden output:\n%s", text)
			}
			found["json"] = true
			continue
		}
		ok := false
		for key, ex := range examples {
			if strings.HasPrefix(key, lang+":") && strings.TrimSpace(ex) == text {
				found[key], ok = true, true
			}
		}
		if !ok && strings.Contains(text, "soap_fault") || !ok && lang == "xml" && strings.Contains(text, "Fault") {
			t.Errorf("README %s example is not a tested testdata file:\n%s", lang, text)
		}
	}
	for key := range examples {
		if !found[key] {
			t.Errorf("testdata example %s is not in the README", key)
		}
	}
	if !found["json"] {
		t.Error("README lacks the JSON of the full example")
	}
}

// Unit tests of the handler, without a server.

func sfProvision(t *testing.T, h *SOAPFault) *SOAPFault {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func sfRequest(ctx context.Context) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sfSOAP11Request))
	r.Header.Set("Content-Type", "text/xml")
	repl := caddy.NewReplacer()
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, repl)
	return r.WithContext(ctx)
}

// TestSOAPFaultClientGone: a canceled request gets nothing written and the
// error goes back to Caddy unchanged.
func TestSOAPFaultClientGone(t *testing.T) {
	h := sfProvision(t, &SOAPFault{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	want := caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: connection refused"))
	err := h.ServeHTTP(rec, sfRequest(ctx), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return want }))
	if !errors.Is(err, want) && !reflect.DeepEqual(err, want) {
		t.Errorf("error = %v, want the handler's", err)
	}
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("wrote %q to a gone client", rec.Body.String())
	}
}

// TestSOAPFaultAfterWrite: once a response has started, errors pass through.
func TestSOAPFaultAfterWrite(t *testing.T) {
	h := sfProvision(t, &SOAPFault{})
	he := caddyhttp.Error(http.StatusBadGateway, errors.New("reading upstream body"))
	for name, start := range map[string]func(w http.ResponseWriter){
		"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
		"Write":       func(w http.ResponseWriter) { _, _ = w.Write([]byte("partial")) },
		"ReadFrom":    func(w http.ResponseWriter) { _, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("partial")) },
		"Flush":       func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() },
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				start(w)
				return he
			}))
			if err == nil || strings.Contains(rec.Body.String(), "Fault") {
				t.Errorf("fault written after the response started: err %v, body %q", err, rec.Body.String())
			}
		})
	}
	t.Run("1xx does not count", func(t *testing.T) {
		rec := httptest.NewRecorder()
		err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(http.StatusEarlyHints)
			return he
		}))
		if err != nil || !strings.Contains(rec.Body.String(), "Fault") {
			t.Errorf("no fault after 103: err %v, body %q", err, rec.Body.String())
		}
	})
	t.Run("wrapped error", func(t *testing.T) {
		rec := httptest.NewRecorder()
		err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return fmt.Errorf("wrapped: %w", caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstreams")))
		}))
		if err != nil || rec.Code != 500 || !strings.Contains(rec.Body.String(), "Fault") {
			t.Errorf("wrapped 503: err %v, %d %q", err, rec.Code, rec.Body.String())
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := sfRequest(context.Background())
		r.Method = http.MethodHead
		err := h.ServeHTTP(rec, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return he }))
		if err != nil || rec.Code != 500 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD: err %v, %d %q", err, rec.Code, rec.Body.String())
		}
	})
}

// TestMetricsRegistration: provisioning again on one registry (every policy
// and handler of a config does) reuses the collectors instead of failing.
func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for range 2 {
		if err := registerMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	before := testutil.ToFloat64(metrics.faults.WithLabelValues("503"))
	metrics.faults.WithLabelValues("503").Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "caddy_soap_affinity_faults_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "503" {
				if got := m.GetCounter().GetValue(); got != before+1 {
					t.Errorf("faults_total{status=503} = %v, want %v", got, before+1)
				}
				return
			}
		}
	}
	t.Errorf("faults_total not gathered from %d families", len(mfs))
}

// BenchmarkSOAPFaultServeHTTP measures answering a failed request, with the
// reason expanded from placeholders through Caddy's replacer.
func BenchmarkSOAPFaultServeHTTP(b *testing.B) {
	for name, reason := range map[string]string{"static": "", "placeholder": "upstream error {http.error.status_code}: {http.error.status_text}"} {
		b.Run(name, func(b *testing.B) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := &SOAPFault{Reason: reason}
			if err := h.Provision(ctx); err != nil {
				b.Fatal(err)
			}
			h.logger = zap.NewNop() // measure the handler, not the error log
			he := caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstreams available"))
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return he })
			r := sfRequest(context.Background())
			w := &sfDiscard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type sfDiscard struct{ h http.Header }

func (d *sfDiscard) Header() http.Header         { return d.h }
func (d *sfDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (d *sfDiscard) WriteHeader(int)             {}
