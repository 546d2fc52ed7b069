package addressing_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	// The plugin as users build it: this transport and the selection
	// policies (simple_client_session is one the transport must work with).
	_ "github.com/soap-affinity/caddy-soap-affinity"
)

// The fixed ports of the in-process test Caddy: its admin endpoint and its
// site (and https_port, which Caddy binds for nothing here).
// SOAP_AFFINITY_TEST_ADMIN_PORT and SOAP_AFFINITY_TEST_HTTP_PORT move them.
var (
	adminPort = envPort("SOAP_AFFINITY_TEST_ADMIN_PORT", 2999)
	httpPort  = envPort("SOAP_AFFINITY_TEST_HTTP_PORT", 9080)
	proxyURL  = fmt.Sprintf("http://localhost:%d", httpPort)
)

func envPort(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestMain refuses to start when a fixed port is taken: caddytest would
// otherwise talk to whatever Caddy already listens on the admin port, and
// Caddy's listeners share ports through SO_REUSEPORT, so a concurrent run
// would quietly send requests to the other run's Caddy.
func TestMain(m *testing.M) {
	for _, port := range []int{adminPort, httpPort, httpPort + 1} {
		for _, addr := range []string{fmt.Sprintf(":%d", port), fmt.Sprintf("127.0.0.1:%d", port)} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "port %d is in use (%v): another test run or Caddy holds it; "+
					"run in a private network namespace or set SOAP_AFFINITY_TEST_ADMIN_PORT / SOAP_AFFINITY_TEST_HTTP_PORT\n", port, err)
				os.Exit(2)
			}
			ln.Close()
		}
	}
	os.Exit(m.Run())
}

// received is what a backend saw of one request.
type received struct {
	ContentLength    int64
	TransferEncoding []string
	Header           http.Header
	Body             []byte
}

// backend is a real HTTP server on a free loopback port that records what it
// receives and names itself in the X-Backend response header.
type backend struct {
	name string
	addr string // host:port
	srv  *httptest.Server

	// failFirst is how many of its first requests it answers 503.
	failFirst int

	mu       sync.Mutex
	received []received
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.received = append(b.received, received{
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Header:           r.Header.Clone(),
		Body:             body,
	})
	fail := len(b.received) <= b.failFirst
	b.mu.Unlock()
	w.Header().Set("X-Backend", b.name)
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintf(w, "served by %s", b.name)
}

// Received returns what the backend has received so far.
func (b *backend) Received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.received...)
}

func newBackend(t *testing.T, name string, tls bool) *backend {
	t.Helper()
	b := &backend{name: name}
	if tls {
		b.srv = httptest.NewTLSServer(b)
	} else {
		b.srv = httptest.NewServer(b)
	}
	t.Cleanup(b.srv.Close)
	b.addr = b.srv.Listener.Addr().String()
	return b
}

func startBackends(t *testing.T, n int) []*backend {
	t.Helper()
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackend(t, fmt.Sprintf("b%d", i+1), false)
	}
	return bs
}

func addrs(bs []*backend) string {
	var s []string
	for _, b := range bs {
		s = append(s, b.addr)
	}
	return strings.Join(s, " ")
}

func backendNamed(t *testing.T, bs []*backend, name string) *backend {
	t.Helper()
	for _, b := range bs {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("no backend named %q (reply not from a backend)", name)
	return nil
}

// deadAddr is a loopback address nothing listens on: dialing it fails at once.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// globals is the global options block of every test config.
func globals() string {
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
	skip_install_trust
}
`, adminPort, httpPort, httpPort+1)
}

// siteConfig wraps a site block body for the in-process test Caddy.
func siteConfig(site string) string {
	return globals() + fmt.Sprintf(":%d {\n%s\n}\n", httpPort, site)
}

// proxyConfig is a reverse_proxy to bs with the given options inside its block.
func proxyConfig(upstreams, options string) string {
	return siteConfig(fmt.Sprintf("\treverse_proxy %s {\n%s\n\t}", upstreams, options))
}

func initCaddy(t *testing.T, cfg string, adapter string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(cfg, adapter)
	if t.Failed() {
		t.FailNow()
	}
}

// request is one request to the proxy.
type request struct {
	method  string
	path    string
	header  map[string]string
	body    []byte
	chunked bool // send the body without Content-Length
}

// reply is what the client got.
type reply struct {
	status  int
	backend string // X-Backend, "" if no backend answered
	body    string
}

// testClient dials anew for every request: a reload closes Caddy's listeners.
var testClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func send(t *testing.T, req request) reply {
	t.Helper()
	method := req.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
		if req.chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
	}
	r, err := http.NewRequest(method, proxyURL+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := testClient.Do(r)
	if err != nil {
		t.Fatalf("request to proxy: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	return reply{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(data)}
}

// soapRequest is a SOAP 1.1 or 1.2 request with a Header block of its own.
func soapRequest(version string) request {
	ns, ct := "http://schemas.xmlsoap.org/soap/envelope/", "text/xml; charset=UTF-8"
	if version == "1.2" {
		ns, ct = "http://www.w3.org/2003/05/soap-envelope", "application/soap+xml; charset=UTF-8"
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="%s">
   <soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">c1</syn:ClientID></soapenv:Header>
   <soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"><m0:order><m0:symbol>IBM</m0:symbol></m0:order></m0:placeOrder></soapenv:Body>
</soapenv:Envelope>`, ns)
	return request{header: map[string]string{"Content-Type": ct}, body: []byte(body)}
}

// lastReceived returns the last request the backend that answered rep got.
func lastReceived(t *testing.T, bs []*backend, rep reply) received {
	t.Helper()
	if rep.status != http.StatusOK {
		t.Fatalf("status %d, body %q", rep.status, rep.body)
	}
	recs := backendNamed(t, bs, rep.backend).Received()
	if len(recs) == 0 {
		t.Fatalf("backend %s answered but recorded nothing", rep.backend)
	}
	return recs[len(recs)-1]
}

// jsonConfig is a JSON config for the in-process test Caddy whose one route
// has the handlers given.
func jsonConfig(handlers ...string) string {
	return fmt.Sprintf(`{
	"admin": {"listen": "localhost:%d"},
	"apps": {"http": {"grace_period": 1, "http_port": %d, "https_port": %d, "servers": {"srv0": {
		"listen": [":%d"],
		"routes": [{"handle": [%s]}]
	}}}}
}`, adminPort, httpPort, httpPort+1, httpPort, strings.Join(handlers, ","))
}

// assertLoadError loads a JSON config that must fail, with an error that
// contains want; the running config stays.
func assertLoadError(t *testing.T, cfg, want string) {
	t.Helper()
	initCaddy(t, siteConfig("\trespond ok"), "caddyfile") // Caddy runs
	resp, err := testClient.Post(fmt.Sprintf("http://localhost:%d/load", adminPort), "application/json", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("load: status %d, %s; want an error containing %s", resp.StatusCode, body, want)
	}
}
