package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestAffinityByHTTPHeader(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "", ""))

	got := servedBy(t, withSession("123"), 6)
	if !allSame(got) {
		t.Fatalf("session 123 was served by %v, want one backend", got)
	}
	// New sessions are placed round robin: three new ids land on three backends.
	seen := map[string]bool{}
	for _, id := range []string{"a", "b", "c"} {
		seen[servedBy(t, withSession(id), 1)[0]] = true
	}
	if len(seen) != 3 {
		t.Fatalf("three new sessions went to %v, want three backends", seen)
	}
	// ...and each stays where it was placed.
	for _, id := range []string{"a", "b", "c", "123"} {
		if got := servedBy(t, withSession(id), 3); !allSame(got) {
			t.Errorf("session %s was served by %v", id, got)
		}
	}
}

func TestAffinityBySOAPClientID(t *testing.T) {
	for _, version := range []string{"1.1", "1.2"} {
		t.Run("SOAP "+version, func(t *testing.T) {
			bs := startBackends(t, 3)
			initCaddy(t, proxyConfig(bs, "", ""))
			for _, id := range []string{"alpha", "beta", "gamma"} {
				req := soapRequest(version, id)
				if got := servedBy(t, req, 4); !allSame(got) {
					t.Errorf("ClientID %s was served by %v, want one backend", id, got)
				}
			}
			// The header block is forwarded unchanged, with the whole body.
			want := soapRequest(version, "alpha").body
			for _, b := range bs {
				for _, rec := range b.Received() {
					if bytes.Contains(rec.Body, []byte(">alpha<")) && !bytes.Equal(rec.Body, want) {
						t.Errorf("backend %s got body %q, want %q", b.name, rec.Body, want)
					}
				}
			}
		})
	}
}

func TestHTTPHeaderTakesPrecedenceOverSOAPHeader(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, `{
			header X-Session simpleClientSession
		}`, ""))
	req := soapRequest("1.1", "from-soap")
	req.header["X-Session"] = "from-header"
	first := servedBy(t, req, 1)[0]
	// The same HTTP header id with other ClientIDs stays on the same backend.
	for i := range 4 {
		r := soapRequest("1.1", fmt.Sprintf("other-%d", i))
		r.header["X-Session"] = "from-header"
		if got := servedBy(t, r, 1)[0]; got != first {
			t.Fatalf("request %d went to %s, want %s (the HTTP header decides)", i, got, first)
		}
	}
}

func TestRequestsWithoutSessionUseFallback(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "", ""))
	got := servedBy(t, request{body: []byte("no session")}, 4)
	if got[0] == got[1] || got[1] == got[2] || got[2] == got[3] {
		t.Fatalf("id-less requests went to %v, want round robin", got)
	}
}

func TestFallbackPolicyIsConfigurable(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, `{
			fallback first
		}`, ""))
	for _, id := range []string{"x", "y", "z"} {
		if got := servedBy(t, withSession(id), 1)[0]; got != "b1" {
			t.Errorf("new session %s went to %s, want b1 (fallback first)", id, got)
		}
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestBodyBytesReachBackendUnchanged(t *testing.T) {
	big := soapRequest("1.1", "big").body
	big = append(big[:len(big)-len("</soapenv:Envelope>")], []byte("<!--"+strings.Repeat("x", 10<<20)+"-->\n</soapenv:Envelope>")...)
	cases := []struct {
		name    string
		body    []byte
		chunked bool
	}{
		{"small", soapRequest("1.1", "small").body, false},
		{"10MB", big, false},
		{"chunked", soapRequest("1.2", "chunked").body, true},
		{"chunked 10MB", big, true},
	}
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "", ""))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := soapRequest("1.1", "")
			req.body, req.chunked = tc.body, tc.chunked
			rep := send(t, req)
			if rep.status != http.StatusOK {
				t.Fatalf("status %d: %s", rep.status, rep.body)
			}
			b := bs[0]
			if rep.backend == bs[1].name {
				b = bs[1]
			}
			recs := b.Received()
			rec := recs[len(recs)-1]
			if rec.BodyLen != len(tc.body) || rec.BodySHA != sha(tc.body) {
				t.Fatalf("backend got %d bytes (sha %s), want %d (sha %s)", rec.BodyLen, rec.BodySHA, len(tc.body), sha(tc.body))
			}
			if !tc.chunked && rec.ContentLength != int64(len(tc.body)) {
				t.Errorf("backend saw Content-Length %d, want %d", rec.ContentLength, len(tc.body))
			}
		})
	}
}

func TestFailoverRebindsAndDoesNotFlapBack(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "", `lb_retries 2
		fail_duration 30s`))

	home := servedBy(t, withSession("s1"), 2)[0]
	var down *backend
	for _, b := range bs {
		if b.name == home {
			down = b
		}
	}
	down.Stop()

	// The next request fails over (a dial error is retried) and the session
	// moves for good.
	moved := servedBy(t, withSession("s1"), 1)[0]
	if moved == home {
		t.Fatalf("session stayed on stopped backend %s", home)
	}
	if got := servedBy(t, withSession("s1"), 3); !allSame(append(got, moved)) {
		t.Fatalf("after failover the session was served by %v, want %s", got, moved)
	}

	down.Start()
	if got := servedBy(t, withSession("s1"), 3); !allSame(append(got, moved)) {
		t.Fatalf("after %s came back the session was served by %v, want it to stay on %s", home, got, moved)
	}
}

func TestStrictModeDoesNotFailOver(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, `{
			strict
		}`, `lb_retries 2
		fail_duration 30s`))

	home := servedBy(t, withSession("s1"), 1)[0]
	for _, b := range bs {
		if b.name == home {
			b.Stop()
		}
	}
	for i := range 3 {
		rep := send(t, withSession("s1"))
		if rep.status < 500 || rep.backend != "" {
			t.Fatalf("request %d: status %d from %q, want a 5xx and no backend (strict)", i, rep.status, rep.backend)
		}
	}
	// Other sessions are unaffected.
	if rep := send(t, withSession("s2")); rep.status != http.StatusOK {
		t.Fatalf("a new session got status %d", rep.status)
	}
}

func TestRetryAfterDialErrorSendsWholeSOAPBody(t *testing.T) {
	bs := startBackends(t, 3)
	// No fail_duration: the down upstream still looks available, so only the
	// retry (a second Select for the same request) shows that it failed.
	initCaddy(t, proxyConfig(bs, "", `lb_retries 2`))

	req := soapRequest("1.1", "retry-me")
	home := servedBy(t, req, 1)[0]
	for _, b := range bs {
		if b.name == home {
			b.Stop()
		}
	}
	for _, chunked := range []bool{false, true} {
		req.chunked = chunked
		rep := send(t, req)
		if rep.status != http.StatusOK || rep.backend == home {
			t.Fatalf("chunked=%v: status %d from %q, want 200 from another backend than %s", chunked, rep.status, rep.backend, home)
		}
		for _, b := range bs {
			if b.name != rep.backend {
				continue
			}
			recs := b.Received()
			if got := recs[len(recs)-1]; !bytes.Equal(got.Body, req.body) {
				t.Fatalf("chunked=%v: %s got body %q, want %q", chunked, b.name, got.Body, req.body)
			}
		}
	}
}

func TestSessionsExpireAfterIdleTimeout(t *testing.T) {
	bs := startBackends(t, 2)
	// A timeout five times the gap between uses, so that a slow request or a
	// late wakeup on a busy machine does not expire a session in use (a 1s
	// timeout left it 600ms).
	initCaddy(t, proxyConfig(bs, `{
			timeout 2s
		}`, ""))

	// Round robin alternates b1, b2. A session bound on one pick and then
	// asked for again after it expired is placed by the next pick: the other one.
	home := servedBy(t, withSession("idle"), 1)[0]
	// Sliding: kept alive by use for longer than the timeout.
	for range 7 {
		time.Sleep(400 * time.Millisecond)
		if got := servedBy(t, withSession("idle"), 1)[0]; got != home {
			t.Fatalf("a session in use moved from %s to %s", home, got)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	if got := servedBy(t, withSession("idle"), 1)[0]; got == home {
		t.Fatalf("the idle session still went to %s after its timeout; want it placed anew on the other backend", home)
	}
}

func TestBadInputIsProxiedByFallback(t *testing.T) {
	soap := func(header, body string) string {
		return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` + header + `<s:Body>` + body + `</s:Body></s:Envelope>`
	}
	clientID := func(id string) string {
		return `<s:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">` + id + `</syn:ClientID></s:Header>`
	}
	cases := []struct {
		name, method, contentType, body string
	}{
		{"malformed XML", "POST", "text/xml", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">id1</syn:Client`},
		{"non-XML content type", "POST", "application/json", soap(clientID("id1"), "")},
		{"id outside the Header", "POST", "text/xml", soap("", `<syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">id1</syn:ClientID>`)},
		{"empty id", "POST", "text/xml", soap(clientID("  "), "")},
		{"oversized id", "POST", "text/xml", soap(clientID(strings.Repeat("i", 257)), "")},
		{"Header beyond the peek limit", "POST", "text/xml", soap(`<s:Header><pad>`+strings.Repeat("p", 70<<10)+`</pad>`+clientID("id1")[len("<s:Header>"):], "")},
		// An ISO-8859-1 id beyond ASCII is not decoded (an ASCII one is read).
		{"ISO-8859-1 beyond ASCII", "POST", "text/xml", `<?xml version="1.0" encoding="ISO-8859-1"?>` + soap(clientID("caf\xe9"), "")},
		{"UTF-16 declared", "POST", "text/xml", `<?xml version="1.0" encoding="UTF-16"?>` + soap(clientID("id1"), "")},
		{"not SOAP", "POST", "application/xml", `<order><ClientID xmlns="http://ws.apache.org/ns/synapse">id1</ClientID></order>`},
		{"GET without body", "GET", "", ""},
	}
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "", ""))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: tc.method, header: map[string]string{}}
			if tc.contentType != "" {
				req.header["Content-Type"] = tc.contentType
			}
			if tc.body != "" {
				req.body = []byte(tc.body)
			}
			// Round robin, not affinity: the same request alternates backends.
			var got []string
			for range 2 {
				rep := send(t, req)
				if rep.status != http.StatusOK {
					t.Fatalf("status %d: %s", rep.status, rep.body)
				}
				got = append(got, rep.backend)
				for _, b := range bs {
					if b.name != rep.backend {
						continue
					}
					recs := b.Received()
					if rec := recs[len(recs)-1]; rec.BodySHA != sha(req.body) {
						t.Fatalf("backend got %d bytes, want the %d sent", rec.BodyLen, len(req.body))
					}
				}
			}
			if got[0] == got[1] {
				t.Fatalf("went to %v twice: want the fallback's round robin", got)
			}
		})
	}
}

func TestTableIsBoundedByMaxSessions(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, `{
			name bounded
			max_sessions 20
		}`, ""))
	for i := range 200 {
		send(t, withSession(fmt.Sprintf("flood-%d", i)))
	}
	table := sessionTable(t, "bounded")
	table.CleanUp()
	if n := table.Len(); n > 20 || n == 0 {
		t.Fatalf("table holds %d sessions after 200 new ids, want 1..20", n)
	}
}

// postSessionLines sends a request whose session header comes in the lines
// given, and returns the backend that answered it.
func postSessionLines(t *testing.T, lines ...string) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, proxyURL, strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		r.Header.Add("simpleClientSession", l)
	}
	resp, err := testClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp.Header.Get("X-Backend")
}

// docs/simple_client_session.md's "How a request is routed": a session header sent on two lines
// is named by its first line; "a, b" on one line is the one id "a, b".
func TestSessionHeaderLines(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "{\n\t\t\tname lines\n\t\t}", ""))
	post := func(lines ...string) string { return postSessionLines(t, lines...) }
	a, b := post("a"), post("b")
	if a == b {
		t.Fatalf("sessions a and b both on %s; want round robin to part them", a)
	}
	for range 3 {
		if got := post("a", "b"); got != a {
			t.Fatalf("lines a, b went to %s, want a's %s", got, a)
		}
		if got := post("b", "a"); got != b {
			t.Fatalf("lines b, a went to %s, want b's %s", got, b)
		}
	}
	ab := post("a, b")
	if ab == a || ab == b {
		t.Fatalf(`"a, b" went to %s, the backend of a (%s) or b (%s): want a session of its own`, ab, a, b)
	}
	if sessionTable(t, "lines").Len() != 3 {
		t.Errorf("%d sessions, want a, b and \"a, b\"", sessionTable(t, "lines").Len())
	}
}
