package caddymodule

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// The ports of the in-process test Caddy: its admin endpoint and its site.
// SOAP_AFFINITY_TEST_ADMIN_PORT and SOAP_AFFINITY_TEST_HTTP_PORT move them, so
// that two checkouts can run their tests on one machine at the same time.
var (
	adminPort = envPort("SOAP_AFFINITY_TEST_ADMIN_PORT", 2999)
	httpPort  = envPort("SOAP_AFFINITY_TEST_HTTP_PORT", 9080)
	proxyURL  = fmt.Sprintf("http://localhost:%d", httpPort)
	adminURL  = fmt.Sprintf("http://localhost:%d", adminPort)
)

func envPort(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// received is what a test backend saw of one request.
type received struct {
	Method           string
	ContentLength    int64
	TransferEncoding []string
	Header           http.Header
	BodyLen          int
	BodySHA          string
	Body             []byte // kept only for small bodies
	Head             []byte // the first 4 KiB, kept for every body
}

// backend is a real HTTP server on a fixed loopback port that can be stopped
// and started again on the same port, and records what it receives. It names
// itself in the X-Backend response header.
type backend struct {
	t    testing.TB
	name string
	addr string

	// tls, if set, makes it serve HTTPS with the self-signed certificate
	// certPEM (which is also its CA).
	tls     *tls.Config
	certPEM []byte

	// respond, if set, writes the response after X-Backend is set; the
	// default is "served by <name>".
	respond func(b *backend, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	srv      *http.Server
	received []received
}

func newBackend(t testing.TB, name string) *backend { return newBackendWith(t, name, nil) }

// newBackendWith starts a backend that answers with respond.
func newBackendWith(t testing.TB, name string, respond func(b *backend, w http.ResponseWriter, r *http.Request)) *backend {
	t.Helper()
	return startBackend(t, &backend{name: name, respond: respond})
}

// newTLSBackend starts a backend that serves HTTPS with a self-signed
// certificate for 127.0.0.1, ::1 and localhost; its certPEM is the CA to trust.
func newTLSBackend(t testing.TB, name string) *backend {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test backend " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return startBackend(t, &backend{
		name:    name,
		tls:     &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	})
}

// startBackend serves b on a free loopback port until the test ends.
func startBackend(t testing.TB, b *backend) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserving a port: %v", err)
	}
	b.t, b.addr = t, ln.Addr().String()
	b.serve(ln)
	t.Cleanup(b.Stop)
	return b
}

// deadAddr is a loopback address on which nothing listens: a dial to it is
// refused at once, as to a stopped backend.
func deadAddr(t testing.TB) string {
	t.Helper()
	b := newBackend(t, "dead")
	b.Stop()
	return b.addr
}

// startBackends starts n backends named b1, b2, ...
func startBackends(t testing.TB, n int) []*backend {
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackend(t, fmt.Sprintf("b%d", i+1))
	}
	return bs
}

func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	// Every request dials anew, so that a stopped backend refuses connections
	// (a dial error, which Caddy retries) rather than breaking a pooled one.
	srv.SetKeepAlivesEnabled(false)
	if b.tls != nil {
		ln = tls.NewListener(ln, b.tls)
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	rec := received{
		Method:           r.Method,
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Header:           r.Header.Clone(),
		BodyLen:          len(body),
		BodySHA:          hex.EncodeToString(sum[:]),
	}
	if len(body) <= 64<<10 {
		rec.Body = body
	}
	rec.Head = bytes.Clone(body[:min(len(body), 4<<10)])
	b.mu.Lock()
	b.received = append(b.received, rec)
	b.mu.Unlock()
	w.Header().Set("X-Backend", b.name)
	if b.respond != nil {
		b.respond(b, w, r)
		return
	}
	_, _ = io.WriteString(w, "served by "+b.name)
}

// Stop closes the backend; connections to its port are refused until Start.
func (b *backend) Stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start serves again on the same port.
func (b *backend) Start() {
	b.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", b.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("restarting backend %s on %s: %v", b.name, b.addr, err)
	}
	b.serve(ln)
}

// Received returns what the backend has received so far.
func (b *backend) Received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.received...)
}

func addrs(bs []*backend) string {
	list := make([]string, len(bs))
	for i, b := range bs {
		list[i] = b.addr
	}
	return strings.Join(list, " ")
}

// testConfig wraps a site block body for the in-process test Caddy.
func testConfig(site string) string { return testConfigWith("", site) }

// testConfigWith is testConfig with more global options; one given again
// (such as grace_period) overrides the default.
func testConfigWith(globals, site string) string {
	return testGlobals(globals) + fmt.Sprintf(":%d {\n%s\n}", httpPort, site)
}

// testGlobals is the global options block of the test configs, with more
// options, for a Caddyfile that brings its own site block on the test port.
func testGlobals(more string) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
	skip_install_trust
%s
}
`, adminPort, httpPort, httpPort+1, more)
}

// proxyConfig is a reverse_proxy to the backends with the given policy block
// and extra options.
func proxyConfig(bs []*backend, policy, extra string) string {
	return reverseProxyConfig(addrs(bs), "lb_policy simple_client_session "+policy+"\n\t\t"+extra)
}

// reverseProxyConfig is a reverse_proxy to upstreams with the given options
// (no lb_policy of its own) inside its block.
func reverseProxyConfig(upstreams, options string) string {
	return testConfig(fmt.Sprintf("\treverse_proxy %s {\n\t\t%s\n\t}", upstreams, options))
}

// jsonConfig is a JSON config for the test Caddy whose one route has the
// handlers given.
func jsonConfig(handlers ...string) string {
	return fmt.Sprintf(`{
	"admin": {"listen": "localhost:%d"},
	"apps": {"http": {"grace_period": 1, "http_port": %d, "https_port": %d, "servers": {"srv0": {
		"listen": [":%d"],
		"routes": [{"handle": [%s]}]
	}}}}
}`, adminPort, httpPort, httpPort+1, httpPort, strings.Join(handlers, ","))
}

func initCaddy(t *testing.T, cfg string) *caddytest.Tester {
	t.Helper()
	return initCaddyWith(t, cfg, "caddyfile")
}

// initCaddyWith is initCaddy for a config in another format ("json").
func initCaddyWith(t *testing.T, cfg, adapter string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	tester.InitServer(cfg, adapter)
	if t.Failed() {
		t.FailNow()
	}
	return tester
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
	header  http.Header
}

func send(t testing.TB, req request) reply {
	t.Helper()
	rep, err := trySend(req)
	if err != nil {
		t.Fatalf("request to proxy: %v", err)
	}
	return rep
}

func trySend(req request) (reply, error) { return trySendWith(testClient, req) }

// trySendWith is trySend through client.
func trySendWith(client *http.Client, req request) (reply, error) {
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
		return reply{}, err
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := client.Do(r)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(data), header: resp.Header}, nil
}

// testClient dials anew for every request: a reload closes Caddy's listeners
// (grace_period 1ns), and a POST on a kept-alive connection that a reload just
// closed fails with EOF instead of being retried. It also sends again, once, a
// request that got no response at all: Caddy's Stop returns once the old
// servers have begun to shut down, not once they have closed their listeners
// (its comment: "the scheduler might still pause them right before calling
// Shutdown()"), so on a loaded machine the first connection after a reload
// can be accepted by an old server and closed unanswered. Every test begins
// with such a reload; what it tests is where requests go, not that race.
var testClient = &http.Client{Timeout: 30 * time.Second, Transport: resendUnanswered{plainTransport}}

// plainClient does not send again: for the chaos test, which counts the
// requests that reloads leave unanswered.
var plainClient = &http.Client{Timeout: 30 * time.Second, Transport: plainTransport}

var plainTransport = &http.Transport{DisableKeepAlives: true}

// resendUnanswered sends a request again, once, when the connection closed
// before any response came, if its body can be read again.
type resendUnanswered struct{ *http.Transport }

func (rt resendUnanswered) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.Transport.RoundTrip(r)
	replayable := r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
	if err == nil || !replayable || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		return resp, err
	}
	again := r.Clone(r.Context())
	if r.GetBody != nil {
		body, bodyErr := r.GetBody()
		if bodyErr != nil {
			return nil, err
		}
		again.Body = body
	}
	return rt.Transport.RoundTrip(again)
}

// withSession is a request naming its session in the HTTP header.
func withSession(id string) request {
	return request{header: map[string]string{"simpleClientSession": id}, body: []byte("<x/>")}
}

// envelopeOf returns the envelope namespace and the Content-Type of SOAP
// version "1.1" or "1.2".
func envelopeOf(version string) (namespace, contentType string) {
	if version == "1.2" {
		return "http://www.w3.org/2003/05/soap-envelope", "application/soap+xml; charset=UTF-8"
	}
	return "http://schemas.xmlsoap.org/soap/envelope/", "text/xml; charset=UTF-8"
}

// soapRequest is a SOAP request naming its session in the ClientID header block.
func soapRequest(version, clientID string) request {
	ns, ct := envelopeOf(version)
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="%s">
   <soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">%s</syn:ClientID></soapenv:Header>
   <soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"><m0:order><m0:symbol>IBM</m0:symbol></m0:order></m0:placeOrder></soapenv:Body>
</soapenv:Envelope>`, ns, clientID)
	return request{header: map[string]string{"Content-Type": ct}, body: []byte(body)}
}

// servedBy sends req n times and returns the backends that answered, in order.
func servedBy(t testing.TB, req request, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		rep := send(t, req)
		if rep.status != http.StatusOK {
			t.Fatalf("request %d: status %d, body %q", i, rep.status, rep.body)
		}
		out[i] = rep.backend
	}
	return out
}

func allSame(xs []string) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return len(xs) > 0
}

// assertLoadError loads cfg into the test Caddy (started by an earlier
// initCaddy, or started here) and requires the load to fail with an error
// that contains want. It is caddytest.AssertLoadError for the configured
// admin port.
func assertLoadError(t *testing.T, cfg, adapter, want string) {
	t.Helper()
	initCaddy(t, testConfig("\trespond 200")) // make sure a test Caddy runs
	contentType := "application/json"
	if adapter != "json" {
		contentType = "text/" + adapter
	}
	resp, err := http.Post(fmt.Sprintf("http://localhost:%d/load", adminPort), contentType, strings.NewReader(cfg))
	if err != nil {
		t.Fatalf("loading config: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("config loaded; want an error containing %q", want)
	}
	if !strings.Contains(string(body), want) {
		t.Fatalf("load error %q does not contain %q", body, want)
	}
}

// lastReceived returns the last request that the backend that answered rep
// got; rep must be a 200.
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

// backendNamed returns the backend called name.
func backendNamed(t *testing.T, bs []*backend, name string) *backend {
	t.Helper()
	for _, b := range bs {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("no backend %q", name)
	return nil
}

// sessionTable returns the session table of the live policy named name, as
// the admin API sees it.
func sessionTable(t testing.TB, name string) *sessionaffinity.Table {
	t.Helper()
	if p, ok := state.Lookup(name); ok {
		if i := p.Newest(); i != nil {
			return i.Table
		}
	}
	t.Fatalf("no session table named %q", name)
	return nil
}
