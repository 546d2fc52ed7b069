package e2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// docs/session-types.md's http session walkthrough: three clients with cookie jars, five
// requests each.
const httpSessionClients = `for client in 1 2 3; do
  jar=$(mktemp)
  for i in 1 2 3 4 5; do
    curl -s -c "$jar" -b "$jar" -o /dev/null -w "client $client: %header{x-backend}\n" http://localhost:8280/
  done
  rm "$jar"
done`

// jarClient is an HTTP client with a cookie jar, as a browser or a SOAP stack
// with cookies on.
func jarClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: nodeClient.Timeout}
}

// getBackend requests u with c and returns the backend named in X-Backend.
func getBackend(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	return resp.Header.Get("X-Backend")
}

// jsessionID is the JSESSIONID c holds for u.
func jsessionID(c *http.Client, u string) string {
	parsed, _ := url.Parse(u)
	for _, ck := range c.Jar.Cookies(parsed) {
		if ck.Name == "JSESSIONID" {
			return ck.Value
		}
	}
	return ""
}

// cookieIssuer is the backend that issued an example cookie: its value starts
// with the backend's address and a dot.
func cookieIssuer(cookie string) string {
	i := strings.LastIndex(cookie, ".")
	if i < 0 {
		return ""
	}
	return cookie[:i]
}

// TestHTTPSessionExampleAsTheReadmeShowsIt runs examples/http-session.Caddyfile,
// whose backends are Caddy sites that issue cookies, with curl's cookie jars
// and Go's.
func TestHTTPSessionExampleAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "docs/session-types.md", "go run ./cmd/caddy run --config examples/http-session.Caddyfile")
	requireInDoc(t, "docs/session-types.md", httpSessionClients)
	startCaddy(t, "examples/http-session.Caddyfile", "localhost:2019")

	requireThreeStickyClients(t, bash(t, httpSessionClients), "localhost:910")

	const proxy = "http://localhost:8280/"
	resp, err := http.Get(proxy)
	if err != nil {
		t.Fatal(err)
	}
	requireSOAPAnswer(t, resp)
	for c := range 3 {
		client := jarClient(t)
		home := getBackend(t, client, proxy)
		cookie := jsessionID(client, proxy)
		if cookieIssuer(cookie) != home {
			t.Fatalf("Go client %d: served by %s, which issued %q", c, home, cookie)
		}
		for i := range 4 {
			if got := getBackend(t, client, proxy); got != home || jsessionID(client, proxy) != cookie {
				t.Fatalf("Go client %d request %d with %q: served by %s", c, i+2, cookie, got)
			}
		}
		if getBackend(t, client, proxy+"logout"); jsessionID(client, proxy) != "" {
			t.Fatalf("Go client %d: /logout left cookie %q", c, jsessionID(client, proxy))
		}
	}
}

// learningNodeConfig is a node that learns http sessions and keeps them in
// Redis; NODE_PORT, ADMIN_PORT, REDIS_ADDRESS and BACKEND1..3 place it.
const learningNodeConfig = `{
	admin localhost:{$ADMIN_PORT}
	auto_https off
}
:{$NODE_PORT} {
	learn_sessions
	reverse_proxy {$BACKEND1} {$BACKEND2} {$BACKEND3} {
		lb_policy simple_client_session {
			name shop
			session http
			store redis {
				address {$REDIS_ADDRESS}
			}
		}
	}
}
`

// startCookieIssuers starts n Go backends that issue JSESSIONID=<addr>.<n>
// to requests without one of theirs.
func startCookieIssuers(t *testing.T, n int) []string {
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		var issued atomic.Int64
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("JSESSIONID"); err != nil || cookieIssuer(c.Value) != addr {
				http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: fmt.Sprintf("%s.%d", addr, issued.Add(1)), Path: "/"})
			}
			w.Header().Set("X-Backend", addr)
		})}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		addrs[i] = addr
	}
	return addrs
}

// TestLearnedSessionsSharedThroughRedis: node 1 learns each client's cookie
// from the backend's response; node 2, which never saw that response, finds
// the binding in Redis.
func TestLearnedSessionsSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	backends := startCookieIssuers(t, 3)
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte(learningNodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for n := 1; n <= 2; n++ {
		env := []string{fmt.Sprintf("NODE_PORT=%d", 9130+n), fmt.Sprintf("ADMIN_PORT=%d", 3030+n), "REDIS_ADDRESS=" + srv.Addr}
		for i, b := range backends {
			env = append(env, fmt.Sprintf("BACKEND%d=%s", i+1, b))
		}
		startCaddy(t, config, fmt.Sprintf("localhost:%d", 3030+n), env...)
		nodes = append(nodes, fmt.Sprintf("http://localhost:%d/", 9130+n))
	}

	homes := map[string]bool{}
	for c := range 3 {
		client := jarClient(t) // cookies are per host, not port: both nodes get them
		home := getBackend(t, client, nodes[0])
		cookie := jsessionID(client, nodes[0])
		if cookieIssuer(cookie) != home {
			t.Fatalf("client %d: served by %s, which issued %q", c, home, cookie)
		}
		if stored := srv.Get("soap_affinity:shop:" + cookie); stored != home {
			t.Fatalf("client %d: cookie %s issued by %s, redis holds %q", c, cookie, home, stored)
		}
		for i := range 6 {
			if got := getBackend(t, client, nodes[(i+1)%2]); got != home {
				t.Fatalf("client %d request %d on node %d with %q: served by %s", c, i+2, (i+1)%2+1, cookie, got)
			}
		}
		homes[home] = true
	}
	if len(homes) != 3 {
		t.Fatalf("three clients went to %v, want three backends", homes)
	}
}

// docs/session-types.md's soap session walkthrough: each client sends back the
// ServiceGroupId element its first response handed out.
const soapSessionClients = `for client in 1 2 3; do
  header=''
  for i in 1 2 3 4 5; do
    reply=$(curl -s -w '\n%header{x-backend}' http://localhost:8281/ -H 'Content-Type: text/xml;charset=UTF-8' \
      --data-binary "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Header>$header</soapenv:Header><soapenv:Body/></soapenv:Envelope>")
    echo "client $client: ${reply##*$'\n'}"
    header=$(grep -o '<axis2:ServiceGroupId[^>]*>[^<]*</axis2:ServiceGroupId>' <<<"$reply")
  done
done`

// TestSOAPSessionExampleAsTheReadmeShowsIt runs examples/soap-session.Caddyfile,
// whose backends are Caddy sites that answer as Axis2 in soapsession scope.
func TestSOAPSessionExampleAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "docs/session-types.md", "go run ./cmd/caddy run --config examples/soap-session.Caddyfile")
	requireInDoc(t, "docs/session-types.md", soapSessionClients)
	startCaddy(t, "examples/soap-session.Caddyfile", "localhost:2019")
	requireThreeStickyClients(t, bash(t, soapSessionClients), "localhost:920")

	resp, err := http.Post("http://localhost:8281/", "text/xml; charset=UTF-8", strings.NewReader(
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body/></soapenv:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	requireSOAPAnswer(t, resp)
}

// requireSOAPAnswer checks that an example backend answered as a SOAP
// service does, so that a SOAP client can read it: a text/xml SOAP 1.1
// envelope whose getQuoteResponse names the backend of X-Backend.
func requireSOAPAnswer(t *testing.T, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=UTF-8" {
		t.Fatalf("Content-Type %q, want text/xml; charset=UTF-8", ct)
	}
	var env struct {
		XMLName  xml.Name
		ServedBy string `xml:"Body>getQuoteResponse>return>served_by"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("the answer is no XML: %v", err)
	}
	if env.XMLName != (xml.Name{Space: "http://schemas.xmlsoap.org/soap/envelope/", Local: "Envelope"}) {
		t.Fatalf("the answer is a %v, want a SOAP 1.1 Envelope", env.XMLName)
	}
	if b := resp.Header.Get("X-Backend"); env.ServedBy != b || b == "" {
		t.Fatalf("the answer says served_by %q, X-Backend %q", env.ServedBy, b)
	}
}

// requireThreeStickyClients checks a walkthrough's output: five lines
// "client N: <backend>" for each of three clients, each client on one
// backend whose address starts with backendPrefix, the three on three.
func requireThreeStickyClients(t *testing.T, out, backendPrefix string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 15 {
		t.Fatalf("got %d lines, want 15: %q", len(lines), lines)
	}
	homes := map[string]bool{}
	for c := range 3 {
		client := lines[5*c : 5*c+5]
		for _, l := range client {
			if l != client[0] || !strings.HasPrefix(l, fmt.Sprintf("client %d: %s", c+1, backendPrefix)) {
				t.Fatalf("client %d: got %q, want five identical lines naming one backend", c+1, client)
			}
		}
		homes[client[0][len("client 1: "):]] = true
	}
	if len(homes) != 3 {
		t.Fatalf("the three clients went to %v, want three backends (round robin)", homes)
	}
}
