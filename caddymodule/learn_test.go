package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// issued numbers the session cookies the test backends hand out.
var issued atomic.Int64

// issuesSessionCookies answers as a servlet container with a jvmRoute does: a
// request without a JSESSIONID of this backend's (prefix "<name>.") gets a
// new one, so the cookie names the backend that issued it. /logout clears it.
func issuesSessionCookies(b *backend, w http.ResponseWriter, r *http.Request) {
	switch c, err := r.Cookie("JSESSIONID"); {
	case r.URL.Path == "/logout":
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "", Path: "/", MaxAge: -1})
	case err != nil || !strings.HasPrefix(c.Value, b.name+"."):
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: fmt.Sprintf("%s.%d", b.name, issued.Add(1)), Path: "/", HttpOnly: true})
	}
	_, _ = io.WriteString(w, "served by "+b.name)
}

func startCookieBackends(t *testing.T, n int) []*backend {
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackendWith(t, fmt.Sprintf("b%d", i+1), issuesSessionCookies)
	}
	return bs
}

// learningConfig is learn_sessions before a reverse_proxy to the backends
// with the given policy options and extra proxy options.
func learningConfig(bs []*backend, policy, extra string) string {
	return testConfig(fmt.Sprintf(`	learn_sessions
	reverse_proxy %s {
		lb_policy simple_client_session {
			%s
		}
		%s
	}`, addrs(bs), policy, extra))
}

// browser is a client with a cookie jar, as a browser or a SOAP stack with
// cookies on is.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{Jar: jar, Transport: testClient.Transport, Timeout: testClient.Timeout}}
}

// get requests path and returns the backend that answered.
func (c *browser) get(path string) string {
	c.t.Helper()
	resp, err := c.client.Get(proxyURL + path)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	return resp.Header.Get("X-Backend")
}

// session is the JSESSIONID in the jar, "" for none.
func (c *browser) session() string {
	u, _ := url.Parse(proxyURL)
	for _, ck := range c.client.Jar.Cookies(u) {
		if ck.Name == "JSESSIONID" {
			return ck.Value
		}
	}
	return ""
}

// issuer is the backend whose name prefixes a session cookie.
func issuer(cookie string) string {
	name, _, _ := strings.Cut(cookie, ".")
	return name
}

func TestHTTPSessionFollowsTheUpstreamThatIssuedItsCookie(t *testing.T) {
	bs := startCookieBackends(t, 3)
	initCaddy(t, learningConfig(bs, "session http", ""))
	homes := map[string]bool{}
	for c := range 3 {
		b := newBrowser(t)
		home := b.get("/app")
		cookie := b.session()
		if issuer(cookie) != home {
			t.Fatalf("client %d: first served by %s, which issued %q", c, home, cookie)
		}
		for i := range 4 {
			if got := b.get("/app"); got != home || b.session() != cookie {
				t.Fatalf("client %d, request %d with cookie %q: served by %s, now holds %q", c, i+2, cookie, got, b.session())
			}
		}
		homes[home] = true
	}
	// New clients are placed by round robin: three clients on three backends,
	// so a client that strayed would have met a backend that is not its own.
	if len(homes) != 3 {
		t.Fatalf("three clients' sessions were issued by %v, want three backends", homes)
	}
}

func TestHTTPSessionFailsOverToTheUpstreamThatIssuesItAnew(t *testing.T) {
	bs := startCookieBackends(t, 3)
	initCaddy(t, learningConfig(bs, "name failover\n\t\t\tsession http", `lb_retries 2
		fail_duration 30s`))
	b := newBrowser(t)
	home := b.get("/app")
	first := b.session()
	backendNamed(t, bs, home).Stop()

	moved := b.get("/app")
	if moved == home {
		t.Fatalf("served by stopped backend %s", home)
	}
	if renewed := b.session(); issuer(renewed) != moved {
		t.Fatalf("after failover to %s the client holds cookie %q", moved, renewed)
	}
	// The old id moved with the request, and the new one is bound where it
	// was issued.
	table := sessionTable(t, "failover")
	for _, id := range []string{first, b.session()} {
		if si, _ := table.Get(id); si.Upstream != backendNamed(t, bs, moved).addr {
			t.Errorf("session %s bound to %q, want %s's %s", id, si.Upstream, moved, backendNamed(t, bs, moved).addr)
		}
	}
	backendNamed(t, bs, home).Start()
	for i := range 4 {
		if got := b.get("/app"); got != moved {
			t.Fatalf("request %d after %s came back: served by %s, want %s", i, home, got, moved)
		}
	}
}

func TestHTTPSessionClearedByTheUpstreamIsForgotten(t *testing.T) {
	bs := startCookieBackends(t, 2)
	initCaddy(t, learningConfig(bs, "name logout\n\t\t\tsession http", ""))
	b := newBrowser(t)
	series := func(outcome string) string {
		return metricsPrefix + `learned_total{outcome="` + outcome + `",policy="logout"}`
	}
	before := scrape(t)
	home := b.get("/app")
	id := b.session()
	table := sessionTable(t, "logout")
	if _, ok := table.Get(id); !ok {
		t.Fatalf("session %s not learned", id)
	}
	if got := b.get("/logout"); got != home {
		t.Fatalf("logout served by %s, want %s", got, home)
	}
	checkDelta(t, "learn, then logout", before, scrape(t), map[string]float64{series("learned"): 1, series("forgotten"): 1})
	if b.session() != "" {
		t.Fatalf("the client still holds cookie %q after logout", b.session())
	}
	if si, ok := table.Get(id); ok {
		t.Fatalf("session %s is still bound to %s after the upstream cleared its cookie", id, si.Upstream)
	}
}

func TestHTTPSessionWithUnknownCookieIsPlacedAsNew(t *testing.T) {
	bs := startCookieBackends(t, 3)
	initCaddy(t, learningConfig(bs, "session http", ""))
	// Three requests with cookies no upstream issued (after a restart of a
	// Caddy without a shared store, say) are placed round robin, as new
	// sessions are, and each then follows the cookie its upstream issues.
	placed := map[string]bool{}
	for i := range 3 {
		b := newBrowser(t)
		u, _ := url.Parse(proxyURL)
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "JSESSIONID", Value: fmt.Sprintf("stale-%d", i)}})
		got := b.get("/app")
		placed[got] = true
		if issuer(b.session()) != got {
			t.Fatalf("stale cookie %d: served by %s, which issued %q", i, got, b.session())
		}
		if again := b.get("/app"); again != got {
			t.Fatalf("stale cookie %d: the new session went to %s, then %s", i, got, again)
		}
	}
	if len(placed) != 3 {
		t.Fatalf("three unknown cookies were placed on %v, want three backends (round robin)", placed)
	}
}

// handsOutSessionHeader answers as a service that gives its session in a
// response header and expects it back in the same request header.
func handsOutSessionHeader(b *backend, w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("X-Session-Id"), b.name+".") {
		w.Header().Set("X-Session-Id", fmt.Sprintf("%s.%d", b.name, issued.Add(1)))
	}
	_, _ = io.WriteString(w, "served by "+b.name)
}

func TestHTTPSessionFromAResponseHeader(t *testing.T) {
	bs := make([]*backend, 3)
	for i := range bs {
		bs[i] = newBackendWith(t, fmt.Sprintf("b%d", i+1), handsOutSessionHeader)
	}
	initCaddy(t, learningConfig(bs, `session http
			header X-Session-Id`, ""))
	for c := range 3 {
		first := send(t, request{method: http.MethodGet})
		id := first.header.Get("X-Session-Id")
		if issuer(id) != first.backend {
			t.Fatalf("client %d: %s handed out %q", c, first.backend, id)
		}
		for i := range 4 {
			rep := send(t, request{method: http.MethodGet, header: map[string]string{"X-Session-Id": id}})
			if rep.backend != first.backend {
				t.Fatalf("client %d request %d with session %s: served by %s", c, i, id, rep.backend)
			}
		}
	}
}

// payload is n bytes of a repeating pattern that no two offsets share within
// a line, so a lost, doubled or moved chunk changes its digest.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%23 + (i/4096)%3)
	}
	return b
}

func TestLearningLeavesResponseBytesUnchanged(t *testing.T) {
	cases := []struct {
		name    string
		size    int
		chunked bool // no Content-Length, written in flushed pieces
	}{
		{"1KB", 1 << 10, false},
		{"10MB", 10 << 20, false},
		{"chunked 10MB", 10 << 20, true},
	}
	body := payload(10 << 20)
	streams := func(b *backend, w http.ResponseWriter, r *http.Request) {
		issuesSessionCookies(b, headerOnly{w}, r)
		var size int
		_, _ = fmt.Sscan(r.URL.Query().Get("size"), &size)
		data := body[:size]
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			_, _ = w.Write(data)
			return
		}
		for len(data) > 0 {
			n := min(len(data), 100_000)
			_, _ = w.Write(data[:n])
			http.NewResponseController(w).Flush()
			data = data[n:]
		}
	}
	bs := []*backend{newBackendWith(t, "b1", streams), newBackendWith(t, "b2", streams)}
	initCaddy(t, learningConfig(bs, "session http", ""))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			path := fmt.Sprintf("/data?size=%d", tc.size)
			if tc.chunked {
				path += "&chunked=1"
			}
			for i := range 2 {
				resp, err := b.client.Get(proxyURL + path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if sha(got) != sha(body[:tc.size]) {
					t.Fatalf("request %d: got %d bytes with sha-256 %s, want %d bytes with %s", i, len(got), sha(got), tc.size, sha(body[:tc.size]))
				}
				if tc.chunked != (resp.ContentLength == -1) {
					t.Errorf("request %d: Content-Length %d; chunked %v", i, resp.ContentLength, tc.chunked)
				}
				if issuer(b.session()) != resp.Header.Get("X-Backend") {
					t.Fatalf("request %d: served by %s, cookie %q", i, resp.Header.Get("X-Backend"), b.session())
				}
			}
		})
	}
}

// headerOnly is a response writer that keeps the header and drops the
// body, so that issuesSessionCookies sets the cookie only.
type headerOnly struct{ http.ResponseWriter }

func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }

// TestSessionTypeConfigErrors: bad session options fail at load, and the
// error names them.
func TestSessionTypeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ site, want string }{
		{"reverse_proxy localhost:1 {\n\t\tlb_policy simple_client_session {\n\t\t\tsession cookie\n\t\t}\n\t}", `unknown session type \"cookie\"`},
		{"reverse_proxy localhost:1 {\n\t\tlb_policy simple_client_session {\n\t\t\tcookie JSESSIONID\n\t\t}\n\t}", `only session http reads cookies, not session simple_client`},
		{"reverse_proxy localhost:1 {\n\t\tlb_policy simple_client_session {\n\t\t\tsession http\n\t\t\tcookie bad;name\n\t\t}\n\t}", `invalid cookie name \"bad;name\"`},
		{"learn_sessions now\n\trespond 200", "wrong argument count"},
		{"learn_sessions {\n\t\tfrom cookies\n\t}\n\trespond 200", `takes no options, got 'from'`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			assertLoadError(t, testConfig("\t"+tc.site), "caddyfile", tc.want)
		})
	}
}

// TestLearnSessionsIsOrderedInsideSOAPFault: without an order line,
// learn_sessions runs right before reverse_proxy, inside soap_fault, so that it
// sees what upstreams answer and never the faults written in their place.
func TestLearnSessionsIsOrderedInsideSOAPFault(t *testing.T) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`:8280 {
	reverse_proxy localhost:9101
	learn_sessions
	soap_fault
}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range regexp.MustCompile(`"handler":"(\w+)"`).FindAllSubmatch(cfg, -1) {
		order = append(order, string(m[1]))
	}
	if want := []string{"soap_fault", "learn_sessions", "reverse_proxy"}; !slices.Equal(order, want) {
		t.Fatalf("handlers in order %v, want %v", order, want)
	}
}

// TestLearnedSessionWithoutLearnSessionsWarnsOnce: a policy that learns from
// responses, with no learn_sessions before its proxy, says so in the log,
// once.
func TestLearnedSessionWithoutLearnSessionsWarnsOnce(t *testing.T) {
	bs := startCookieBackends(t, 2)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	initCaddy(t, testConfigWith(fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t}", logFile),
		fmt.Sprintf("\treverse_proxy %s {\n\t\tlb_policy simple_client_session {\n\t\t\tsession http\n\t\t}\n\t}", addrs(bs))))
	b := newBrowser(t)
	for range 3 {
		b.get("/app")
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "no learn_sessions handler runs before this reverse_proxy"); n != 1 {
		t.Fatalf("the warning was logged %d times, want once:\n%s", n, data)
	}
}
