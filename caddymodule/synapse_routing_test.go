package caddymodule

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/synapse"
)

// synapseConfig adapts Synapse XML as the synapse adapter does, with the
// servers on the test ports, into a config for the test Caddy.
func synapseConfig(t *testing.T, xml string, sendTo ...string) string {
	t.Helper()
	return synapseConfigOf(t, []synapse.File{{Name: "test.xml", Data: []byte(xml)}}, synapse.Options{SendTo: sendTo})
}

// synapseConfigOf is synapseConfig of files adapted with opts.
func synapseConfigOf(t *testing.T, files []synapse.File, opts synapse.Options) string {
	t.Helper()
	opts.HTTPPort, opts.HTTPSPort = httpPort, httpPort+1
	out, _, err := synapse.Adapt(files, opts)
	if err != nil {
		t.Fatalf("adapting: %v\n%v", err, files)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = map[string]any{"listen": fmt.Sprintf("localhost:%d", adminPort)}
	app := cfg["apps"].(map[string]any)["http"].(map[string]any)
	app["grace_period"], app["http_port"], app["https_port"] = 1, httpPort, httpPort+1
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// uriBackends start n backends that answer with the request URI they got.
func uriBackends(t *testing.T, n int) []*backend {
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackendWith(t, fmt.Sprintf("b%d", i+1), func(_ *backend, w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.RequestURI())
		})
	}
	return bs
}

// sendVia sends req to the test Caddy with the Host given (the request
// target in absolute form, as a client using Caddy as its HTTP proxy sends
// it, when absolute is set).
func sendVia(t *testing.T, req request, host string, absolute bool) reply {
	t.Helper()
	target := proxyURL + req.path
	tr := &http.Transport{DisableKeepAlives: true}
	if absolute {
		target = "http://" + host + req.path
		proxy, _ := url.Parse(proxyURL)
		tr.Proxy = http.ProxyURL(proxy)
	}
	r, err := http.NewRequest(http.MethodPost, target, strings.NewReader(string(req.body)))
	if err != nil {
		t.Fatal(err)
	}
	r.Host = host
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(body), header: resp.Header}
}

// Synapse samples 1 and 2's content-based routing, as a proxy: a filter on
// a transport header, then a switch on the getQuote's symbol (an XPath over
// the body, its prefix declared on an ancestor). The backends get the bytes
// sent, in either SOAP version.
func TestSynapseContentBasedRouting(t *testing.T) {
	bs := startBackends(t, 4)
	initCaddyWith(t, synapseConfig(t, fmt.Sprintf(`<proxy xmlns="http://ws.apache.org/ns/synapse" xmlns:m0="http://services.samples" name="StockQuoteProxy">
    <target>
        <inSequence>
            <filter source="get-property('transport', 'X-Priority')" regex="high|urgent">
                <send><endpoint><address uri="http://%s/services/SimpleStockQuoteService"/></endpoint></send>
            </filter>
            <switch source="//m0:getQuote/m0:request/m0:symbol">
                <case regex="IBM"><send><endpoint><address uri="http://%s/services/SimpleStockQuoteService"/></endpoint></send></case>
                <case regex="MS.*"><send><endpoint><address uri="http://%s/services/SimpleStockQuoteService"/></endpoint></send></case>
                <default><send><endpoint><address uri="http://%s/services/SimpleStockQuoteService"/></endpoint></send></default>
            </switch>
        </inSequence>
    </target>
</proxy>`, bs[3].addr, bs[0].addr, bs[1].addr, bs[2].addr)), "json")
	for _, version := range []string{"1.1", "1.2"} {
		t.Run("soap"+version, func(t *testing.T) {
			sendTo(t, bs, getQuoteRequest(version, "IBM"), "b1")
			sendTo(t, bs, getQuoteRequest(version, "MSFT"), "b2")
			sendTo(t, bs, getQuoteRequest(version, "ORCL"), "b3")
			// The regex must match the whole symbol, as Java's matches().
			sendTo(t, bs, getQuoteRequest(version, "IBMX"), "b3")
			urgent := getQuoteRequest(version, "IBM")
			urgent.header["X-Priority"] = "urgent"
			sendTo(t, bs, urgent, "b4")
			urgent.header["X-Priority"] = "not urgent"
			sendTo(t, bs, urgent, "b1")
		})
	}
}

// The classic style: main takes what no proxy takes, last. Its filter on To
// sends /services/StockQuote* to the sample's service (the endpoint's
// address as it is; the response through the send's receive sequence), drops what asks for it (202, no body), and sends the
// rest to the request's host only when that is listed; any other host gets
// a SOAP fault. The proxy's own path still goes to the proxy.
func TestSynapseClassicMain(t *testing.T) {
	bs := uriBackends(t, 3)
	initCaddyWith(t, synapseConfig(t, fmt.Sprintf(`<definitions xmlns="http://ws.apache.org/ns/synapse">
    <sequence name="main">
        <in>
            <filter source="get-property('To')" regex=".*/StockQuote.*">
                <then>
                    <send receive="quoteResponse"><endpoint><address uri="http://%s/services/SimpleStockQuoteService"/></endpoint></send>
                    <drop/>
                </then>
            </filter>
            <filter source="$trp:X-Drop" regex="yes"><drop/></filter>
            <send/>
        </in>
        <out><send/></out>
    </sequence>
    <sequence name="quoteResponse">
        <property name="X-Quote" scope="transport" value="yes"/>
        <send/>
    </sequence>
    <proxy name="Direct" transports="http">
        <target><endpoint><address uri="http://%s/direct"/></endpoint></target>
    </proxy>
</definitions>`, bs[0].addr, bs[1].addr), bs[2].addr), "json")
	soap := getQuoteRequest("1.1", "IBM")

	soap.path = "/services/StockQuote?wsdl"
	if rep := send(t, soap); rep.backend != "b1" || rep.body != "/services/SimpleStockQuoteService" || rep.header.Get("X-Quote") != "yes" {
		t.Errorf("To /services/StockQuote: %d from %q, body %q, X-Quote %q; want b1 with the endpoint's path, through quoteResponse", rep.status, rep.backend, rep.body, rep.header.Get("X-Quote"))
	}
	soap.path = "/services/Direct/x"
	if rep := send(t, soap); rep.backend != "b2" || rep.body != "/direct/x" {
		t.Errorf("the proxy: %d from %q, body %q; want b2", rep.status, rep.backend, rep.body)
	}
	soap.path = "/services/Other"
	if rep := sendVia(t, soap, bs[2].addr, true); rep.backend != "b3" || rep.body != "/services/Other" {
		t.Errorf("HTTP proxy request to the listed %s: %d from %q, body %q; want b3", bs[2].addr, rep.status, rep.backend, rep.body)
	}
	if rep := sendVia(t, soap, bs[2].addr, false); rep.backend != "b3" {
		t.Errorf("Host %s: %d from %q; want b3", bs[2].addr, rep.status, rep.backend)
	}
	for _, host := range []string{bs[0].addr, "evil.example:80"} {
		rep := sendVia(t, soap, host, true)
		if rep.status != http.StatusForbidden || rep.backend != "" || !strings.Contains(rep.body, "<faultstring>the request's host is not one the synapse adapter was given to send to (send-to)</faultstring>") {
			t.Errorf("unlisted host %s: %d from %q, body %q; want the 403 fault", host, rep.status, rep.backend, rep.body)
		}
	}
	drop := soap
	drop.header = map[string]string{"Content-Type": "text/xml", "X-Drop": "yes"}
	if rep := send(t, drop); rep.status != http.StatusAccepted || rep.body != "" || rep.backend != "" {
		t.Errorf("drop: %d from %q, body %q; want 202 with no body", rep.status, rep.backend, rep.body)
	}
}

// MI's own main answers what no proxy or API takes with 404 and no body
// (HTTP_SC and NO_ENTITY_BODY before respond).
func TestSynapseMIDefaultMain(t *testing.T) {
	xml, err := os.ReadFile("../synapse/testdata/adapt/mi-default-main.xml")
	if err != nil {
		t.Fatal(err)
	}
	initCaddyWith(t, synapseConfig(t, string(xml)), "json")
	rep := send(t, request{path: "/anything", header: map[string]string{"Content-Type": "text/xml"}, body: []byte("<x/>")})
	if rep.status != http.StatusNotFound || rep.body != "" {
		t.Errorf("%d, body %q; want 404 with no body", rep.status, rep.body)
	}
}

// A deployment folder without a main sequence, as `caddy synapse --dir`
// reads it, gets Synapse's default main: what no proxy or API takes is
// logged and dropped, which MI acknowledges with 202 and no body.
func TestSynapseDeploymentDefaultMain(t *testing.T) {
	bs := uriBackends(t, 1)
	dir := t.TempDir()
	api := filepath.Join(dir, "api", "Quote.xml")
	if err := os.MkdirAll(filepath.Dir(api), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(api, []byte(fmt.Sprintf(`<api xmlns="http://ws.apache.org/ns/synapse" name="Quote" context="/quote">
    <resource methods="GET"><inSequence><call><endpoint><address uri="http://%s/q"/></endpoint></call><respond/></inSequence></resource>
</api>`, bs[0].addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := synapse.ReadDeployment(dir)
	if err != nil {
		t.Fatal(err)
	}
	initCaddyWith(t, synapseConfigOf(t, files, synapse.Options{Deployment: true}), "json")
	if rep := send(t, request{method: http.MethodGet, path: "/quote/IBM"}); rep.status != http.StatusOK || rep.backend != "b1" || rep.body != "/q/IBM" {
		t.Errorf("the API: %d from %q, body %q; want b1", rep.status, rep.backend, rep.body)
	}
	for _, path := range []string{"/services/Unknown", "/anything"} {
		rep := send(t, request{path: path, header: map[string]string{"Content-Type": "text/xml"}, body: []byte("<x/>")})
		if rep.status != http.StatusAccepted || rep.body != "" || rep.backend != "" {
			t.Errorf("%s: %d from %q, body %q; want 202 with no body", path, rep.status, rep.backend, rep.body)
		}
	}
	// The same files adapted as one file: no main, so Caddy's empty 200.
	initCaddyWith(t, synapseConfigOf(t, files, synapse.Options{}), "json")
	if rep := send(t, request{path: "/anything", header: map[string]string{"Content-Type": "text/xml"}, body: []byte("<x/>")}); rep.status != http.StatusOK || rep.body != "" || rep.backend != "" {
		t.Errorf("without Deployment: %d from %q, body %q; want Caddy's empty 200", rep.status, rep.backend, rep.body)
	}
}

// apiAnswer is what a request to an API must get: the status, from the
// backend named (none: the adapted routes answer, with no body) and the
// Allow header.
type apiAnswer struct {
	method, path, maxForwards string
	status                    int
	backend                   string
	allow                     string
}

// serveGolden serves the golden input name, its addresses at ports (in
// order) moved to backends b1, b2, ... that answer with the request URI.
func serveGolden(t *testing.T, name string, ports ...string) {
	t.Helper()
	serveGoldenOn(t, name, uriBackends(t, len(ports)), ports...)
}

// serveGoldenOn serves the golden input name, its addresses at ports (in
// order) moved to bs.
func serveGoldenOn(t *testing.T, name string, bs []*backend, ports ...string) {
	t.Helper()
	xml, err := os.ReadFile("../synapse/testdata/adapt/" + name + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for i, port := range ports {
		moves = append(moves, "localhost:"+port, bs[i].addr)
	}
	initCaddyWith(t, synapseConfig(t, strings.NewReplacer(moves...).Replace(string(xml))), "json")
}

// checkAPIAnswers serves the golden input name (see serveGolden) and checks
// the answers.
func checkAPIAnswers(t *testing.T, name string, ports []string, answers []apiAnswer) {
	t.Helper()
	serveGolden(t, name, ports...)
	for _, c := range answers {
		req := request{method: c.method, path: c.path}
		if c.maxForwards != "" {
			req.header = map[string]string{"Max-Forwards": c.maxForwards}
		}
		rep := send(t, req)
		if rep.status != c.status || rep.backend != c.backend || c.backend == "" && rep.body != "" || rep.header.Get("Allow") != c.allow {
			t.Errorf("%s: %s %s (Max-Forwards %q): %d from %q, body %q, Allow %q; want %d from %q, Allow %q", name, c.method, c.path, c.maxForwards, rep.status, rep.backend, rep.body, rep.header.Get("Allow"), c.status, c.backend, c.allow)
		}
	}
}

// Requests under an API's context that no resource takes get what
// Synapse's API.process answers, not main: 404, neither with a body nor a
// backend, even where a resource's path matches but not its method, since
// a resource without methods takes every method; OPTIONS there gets 200
// and the resource's methods in Allow. What is outside the context still
// reaches main.
func TestSynapseAPIWithoutMatchingResource(t *testing.T) {
	checkAPIAnswers(t, "api-no-resource", []string{"9000", "9001"}, []apiAnswer{
		{http.MethodOptions, "/stock/orders/7", "", http.StatusOK, "", "POST, PUT"},
		{http.MethodGet, "/stock/quote/IBM", "", http.StatusOK, "b1", ""},
		{http.MethodPost, "/stock/quote/IBM", "", http.StatusNotFound, "", ""},
		{http.MethodGet, "/stock/orders/7", "", http.StatusNotFound, "", ""},
		{http.MethodOptions, "/stock/status", "", http.StatusOK, "", "GET, POST, PUT, DELETE"},
		{http.MethodPut, "/stock/orders/7", "", http.StatusOK, "b1", ""},
		{http.MethodDelete, "/stock/status", "", http.StatusOK, "b1", ""},
		{http.MethodGet, "/stock/unknown", "", http.StatusNotFound, "", ""},
		{http.MethodGet, "/stock", "", http.StatusNotFound, "", ""},
		{http.MethodGet, "/stockholm", "", http.StatusOK, "b2", ""},
	})
}

// An API's answers by method, as Synapse's API.process and Resource give
// them: OPTIONS answered by a resource that does not list it, sent on by
// one that does unless Max-Forwards is 0; 405 for a method no resource
// takes, on a resource's path; 404 for one that another resource takes.
func TestSynapseAPIMethods(t *testing.T) {
	checkAPIAnswers(t, "api-methods-dispatch", []string{"9001", "9002"}, []apiAnswer{
		{http.MethodOptions, "/shop/items", "", http.StatusOK, "", "DELETE, POST, PUT, GET"},
		{http.MethodGet, "/shop/items", "", http.StatusOK, "b1", ""},
		{http.MethodHead, "/shop/items", "", http.StatusMethodNotAllowed, "", ""},
		{http.MethodPatch, "/shop/items", "", http.StatusNotFound, "", ""},
		{http.MethodOptions, "/shop/status", "", http.StatusOK, "b1", ""},
		{http.MethodOptions, "/shop/status", "0", http.StatusOK, "", "GET"},
		{http.MethodOptions, "/shop/status", "3", http.StatusOK, "b1", ""},
		{http.MethodPatch, "/shop/carts/1", "", http.StatusOK, "b2", ""},
		{http.MethodHead, "/shop/carts/1", "", http.StatusMethodNotAllowed, "", ""},
		{http.MethodOptions, "/shop/nothing", "", http.StatusNotFound, "", ""},
		{http.MethodHead, "/shop/nothing", "", http.StatusNotFound, "", ""},
	})
}

// An OPTIONS that a resource listing OPTIONS sends on reaches the backend
// with the Max-Forwards it came with: Synapse lowers it by one
// (Resource.sendOptions), which Caddy cannot express, as docs/synapse.md
// says.
func TestSynapseAPIOptionsMaxForwardsAsItCame(t *testing.T) {
	echo := newBackendWith(t, "b1", func(_ *backend, w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Join(r.Header.Values("Max-Forwards"), ","))
	})
	serveGoldenOn(t, "api-methods-dispatch", []*backend{echo, echo}, "9001", "9002")
	rep := send(t, request{method: http.MethodOptions, path: "/shop/status", header: map[string]string{"Max-Forwards": "3"}})
	if rep.status != http.StatusOK || rep.backend != "b1" || rep.body != "3" {
		t.Errorf("OPTIONS /shop/status, Max-Forwards 3: %d from %q, the backend saw Max-Forwards %q; want 200 from b1, which sees 3", rep.status, rep.backend, rep.body)
	}
}

// A request goes to the resource Synapse's dispatchers find first, whatever
// the order the resources are written in: an exact url-mapping, the
// longest /path/*, a *.ext, a uri-template, then a resource with neither.
func TestSynapseAPIDispatchOrder(t *testing.T) {
	serveGolden(t, "api-dispatch-order", "9001")
	for path, want := range map[string]string{
		"/files/a/b/c":   "/exact/a/b/c",
		"/files/a/b/c/":  "/exact/a/b/c/",
		"/files/a/b/x":   "/ab/a/b/x",
		"/files/a/x":     "/a/a/x",
		"/files/a/y.xml": "/a/a/y.xml",
		"/files/x/y.xml": "/extension/x/y.xml",
		"/files/other":   "/default/other",
	} {
		if rep := send(t, request{method: http.MethodGet, path: path}); rep.status != http.StatusOK || rep.body != want {
			t.Errorf("GET %s: %d, the backend got %q; want %q", path, rep.status, rep.body, want)
		}
	}
}

// The axis2 properties: REST_URL_POSTFIX replaces what follows the
// endpoint's path, query included; with DISABLE_CHUNKING a request with a
// Content-Length keeps it; HTTP_SC sets the response's status;
// messageType lets requests of that type through and refuses the others
// with a fault; onError answers a failed call with its own fault and
// HTTP_SC.
func TestSynapseAxis2Properties(t *testing.T) {
	bs := uriBackends(t, 1)
	dead := deadAddr(t)
	initCaddyWith(t, synapseConfig(t, fmt.Sprintf(`<definitions xmlns="http://ws.apache.org/ns/synapse">
    <sequence name="sendFailed">
        <makefault version="soap11"><reason value="backend down"/></makefault>
        <property name="HTTP_SC" scope="axis2" value="503"/>
        <send/>
    </sequence>
    <api name="Orders" context="/orders">
        <resource methods="POST" uri-template="/new">
            <inSequence>
                <property name="REST_URL_POSTFIX" scope="axis2" value="/v2/create?source=caddy"/>
                <property name="DISABLE_CHUNKING" scope="axis2" value="true"/>
                <call><endpoint><address uri="http://%[1]s/backend"/></endpoint></call>
                <property name="HTTP_SC" scope="axis2" value="201"/>
                <respond/>
            </inSequence>
        </resource>
    </api>
    <proxy name="Typed" transports="http">
        <target>
            <inSequence>
                <property name="messageType" scope="axis2" value="text/xml"/>
                <send><endpoint><address uri="http://%[1]s/typed"/></endpoint></send>
            </inSequence>
        </target>
    </proxy>
    <proxy name="Guarded" transports="http">
        <target>
            <inSequence onError="sendFailed">
                <send><endpoint><address uri="http://%[2]s/svc"/></endpoint></send>
            </inSequence>
        </target>
    </proxy>
</definitions>`, bs[0].addr, dead)), "json")

	req := request{path: "/orders/new?x=1", header: map[string]string{"Content-Type": "application/xml"}, body: []byte("<order/>"), chunked: true}
	rep := send(t, req)
	if rep.status != http.StatusCreated || rep.body != "/backend/v2/create?source=caddy" || rep.backend != "b1" {
		t.Errorf("postfix: %d from %q, body %q; want 201 from b1 and the postfix's URI", rep.status, rep.backend, rep.body)
	}
	// DISABLE_CHUNKING: a request with a Content-Length keeps it.
	req.chunked = false
	send(t, req)
	if rec := lastReceived(t, bs, reply{status: 200, backend: "b1"}); rec.ContentLength != int64(len(req.body)) || len(rec.TransferEncoding) > 0 {
		t.Errorf("DISABLE_CHUNKING: the backend got Content-Length %d (%v), want %d", rec.ContentLength, rec.TransferEncoding, len(req.body))
	}

	typed := request{path: "/services/Typed", header: map[string]string{"Content-Type": "text/xml; charset=UTF-8"}, body: []byte("<x/>")}
	if rep := send(t, typed); rep.status != http.StatusOK || rep.body != "/typed" {
		t.Errorf("messageType of the request: %d, body %q; want 200 from the backend", rep.status, rep.body)
	}
	typed.header["Content-Type"] = "application/json"
	typed.body = []byte("{}")
	if rep := send(t, typed); rep.status != http.StatusUnsupportedMediaType || !strings.Contains(rep.body, "messageType text/xml") {
		t.Errorf("another messageType: %d, body %q; want the 415 fault", rep.status, rep.body)
	}

	guarded := request{path: "/services/Guarded", header: map[string]string{"Content-Type": "text/xml"}, body: []byte("<x/>")}
	if rep := send(t, guarded); rep.status != http.StatusServiceUnavailable || !strings.Contains(rep.body, "<faultstring>backend down</faultstring>") {
		t.Errorf("onError: %d, body %q; want sendFailed's fault with 503", rep.status, rep.body)
	}
}

// The content-based routing example of docs/synapse.md, adapted by the
// synapse adapter, routes Synapse sample 1's IBM getQuote to
// localhost:9001, MSFT's to localhost:9002 and the rest to localhost:9003.
func TestSynapseDocContentBasedRouting(t *testing.T) {
	examples := docBlocksOf(t, "../docs/synapse.md", "xml")
	if len(examples) != 1 {
		t.Fatalf("docs/synapse.md has %d xml examples, want the 1 it is written with", len(examples))
	}
	d := newDocBackends(t)
	initCaddyWith(t, synapseConfig(t, d.adapt(t, examples[0])), "json")
	for _, version := range []string{"1.1", "1.2"} {
		sendTo(t, d.plain, getQuoteRequest(version, "IBM"), d.plain[0].name)
		sendTo(t, d.plain, getQuoteRequest(version, "MSFT"), d.plain[1].name)
		sendTo(t, d.plain, getQuoteRequest(version, "ORCL"), d.plain[2].name)
	}
}

// filteredAnswer is what a request to an API whose resources filter by
// content-type, user-agent or protocol must get: the status, and the URI
// the backend got ("": the adapted routes answered, with no body).
type filteredAnswer struct {
	req    request
	https  bool
	status int
	uri    string
}

// A resource's content-type, user-agent and protocol take or leave a
// request as Synapse's Resource.canProcess does: the exact Content-Type of
// a request MI reads a body of (POST, whatever its length; not GET), the
// whole User-Agent by the regexp, the protocol by the server. Another
// resource on the path takes what one leaves; a request that no resource
// takes gets 400 on a path whose resource has its method, 405 on one
// without it, 404 elsewhere, as API.process answers.
func TestSynapseAPIResourceFilters(t *testing.T) {
	agent := func(path, ua string) request {
		return request{method: http.MethodGet, path: path, header: map[string]string{"User-Agent": ua}}
	}
	get := func(path string) request { return request{method: http.MethodGet, path: path} }
	checkFilteredAnswers(t, "api-resource-filters", []string{"9001", "9002"}, []filteredAnswer{
		{req: typed(http.MethodPost, "/f/in", "application/json", `{"a":1}`), status: http.StatusOK, uri: "/json/in"},
		{req: typed(http.MethodPost, "/f/in", "text/xml", "<a/>"), status: http.StatusOK, uri: "/xml/in"},
		{req: typed(http.MethodPost, "/f/in", "application/json; charset=UTF-8", `{"a":1}`), status: http.StatusBadRequest},
		{req: typed(http.MethodPost, "/f/in", "text/plain", "a"), status: http.StatusBadRequest},
		{req: typed(http.MethodPost, "/f/in", "text/plain", ""), status: http.StatusBadRequest},
		{req: typed(http.MethodGet, "/f/in", "text/plain", ""), status: http.StatusOK, uri: "/json/in"},
		{req: typed(http.MethodPut, "/f/in", "application/json", "{}"), status: http.StatusMethodNotAllowed},
		{req: typed(http.MethodPost, "/f/other", "application/json", "{}"), status: http.StatusNotFound},
		{req: typed(http.MethodGet, "/f/other", "text/plain", ""), status: http.StatusNotFound},
		{req: typed(http.MethodOptions, "/f/in", "text/plain", ""), status: http.StatusOK},
		{req: agent("/ua/agent", "curl/8.5.0"), status: http.StatusOK, uri: "/agent/agent"},
		{req: agent("/ua/agent", "curl/8.5.0 (x86_64-pc-linux-gnu)"), status: http.StatusOK, uri: "/agent/agent"},
		{req: agent("/ua/agent", "Wget/1.21"), status: http.StatusBadRequest},
		{req: agent("/ua/agent", "xcurl/8.5"), status: http.StatusBadRequest},
		{req: agent("/ua/agent", ""), status: http.StatusBadRequest},
		{req: request{method: http.MethodPost, path: "/ua/agent"}, status: http.StatusMethodNotAllowed},
		{req: agent("/ua/other", "curl/8.5.0"), status: http.StatusNotFound},
		{req: agent("/ua/other", "Wget/1.21"), status: http.StatusNotFound},
		{req: get("/h/plain"), status: http.StatusOK, uri: "/plain/plain"},
		{req: get("/p/secure"), status: http.StatusBadRequest},
		{req: get("/p/secure"), https: true, status: http.StatusOK, uri: "/secure/secure"},
		{req: get("/h/plain"), https: true, status: http.StatusBadRequest},
	})
}

// The 400 for a request whose resource has its method but not its filters
// carries none of the request's headers back: Synapse's does (API.process
// keeps the message's transport headers, which the acknowledgement is
// written with), which Caddy cannot express, as docs/synapse.md says.
func TestSynapseAPIBadRequestWithoutTheRequestHeaders(t *testing.T) {
	serveGolden(t, "api-resource-filters", "9001", "9002")
	rep := send(t, request{method: http.MethodGet, path: "/ua/agent", header: map[string]string{"User-Agent": "Wget/1.21", "X-Request-Id": "r1"}})
	if rep.status != http.StatusBadRequest || rep.header.Get("X-Request-Id") != "" || rep.header.Get("User-Agent") != "" {
		t.Errorf("GET /ua/agent as Wget: %d, headers %v; want 400 without the request's", rep.status, rep.header)
	}
}

// A resource without methods, with a content-type and a user-agent: the
// type on the methods MI reads a body of (DELETE too, without one), the
// agent on all but OPTIONS, which it answers whatever the headers; what it
// leaves gets 400, never 405.
func TestSynapseAPIResourceAnyMethodFilter(t *testing.T) {
	with := func(method, contentType, ua, body string) request {
		req := typed(method, "/any/x", contentType, body)
		req.header["User-Agent"] = ua
		return req
	}
	checkFilteredAnswers(t, "api-resource-any-method-filter", []string{"9001"}, []filteredAnswer{
		{req: with(http.MethodPost, "application/json", "a", "{}"), status: http.StatusOK, uri: "/any/x"},
		{req: with(http.MethodPost, "text/plain", "a", "a"), status: http.StatusBadRequest},
		{req: with(http.MethodDelete, "text/plain", "a", ""), status: http.StatusBadRequest},
		{req: with(http.MethodGet, "text/plain", "a", ""), status: http.StatusOK, uri: "/any/x"},
		{req: with(http.MethodGet, "application/json", "a b", ""), status: http.StatusBadRequest},
		{req: with(http.MethodOptions, "text/plain", "a b", ""), status: http.StatusOK},
	})
}

// typed is a request with a Content-Type, and body if not empty.
func typed(method, path, contentType, body string) request {
	req := request{method: method, path: path, header: map[string]string{"Content-Type": contentType}}
	if body != "" {
		req.body = []byte(body)
	}
	return req
}

// checkFilteredAnswers serves the golden input name (see serveGolden) and
// checks the answers.
func checkFilteredAnswers(t *testing.T, name string, ports []string, answers []filteredAnswer) {
	t.Helper()
	serveGolden(t, name, ports...)
	for _, c := range answers {
		var rep reply
		if c.https {
			rep = sendHTTPS(t, c.req)
		} else {
			rep = send(t, c.req)
		}
		if rep.status != c.status || c.uri != "" && (rep.backend == "" || rep.body != c.uri) || c.uri == "" && (rep.backend != "" || rep.body != "") {
			t.Errorf("%s: %s %s (%v, https %t): %d from %q, body %q; want %d, backend URI %q", name, c.req.method, c.req.path, c.req.header, c.https, rep.status, rep.backend, rep.body, c.status, c.uri)
		}
	}
}

// sendHTTPS sends req to the test Caddy's HTTPS server, whose certificate
// its internal CA issues.
func sendHTTPS(t *testing.T, req request) reply {
	t.Helper()
	r, err := http.NewRequest(req.method, fmt.Sprintf("https://localhost:%d%s", httpPort+1, req.path), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test CA is Caddy's own
	}}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("request to the HTTPS server: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(data), header: resp.Header}
}
