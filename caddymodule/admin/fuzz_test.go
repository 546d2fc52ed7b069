package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// FuzzAdminRequest sends arbitrary admin requests (method, request target,
// body), read off the wire by net/http as Caddy's admin server reads them,
// through the module's routes to a real session table, and checks that no
// request deletes more than it names: a failed request deletes nothing, a
// delete of all sessions is only ever the bare DELETE .../sessions, a drain
// only removes sessions of the one upstream its query names, and a forget
// only the one session its body names. The body goes framed one of several
// ways (framing): with its exact Content-Length, with a longer one whose bytes
// never come, chunked, chunked with a size line that does not parse, or
// announced by Expect: 100-continue.
func FuzzAdminRequest(f *testing.F) {
	for _, seed := range []struct{ method, target, body string }{
		{"GET", "/soap-affinity/policies", ""},
		{"GET", "/soap-affinity/policies/fuzz/sessions?limit=2&upstream=u1", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions", `{"id":"s1"}`},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions?upstream=u2", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions?upstream=[fe80::1%eth0]:22002", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions?upstream=u1&upstream=u2", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions?upstream=", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions?Upstream=u1", ""},
		{"DELETE", "/soap-affinity/policies/fuzz/sessions/s1", ""},
		{"POST", "/soap-affinity/policies/fuzz/sessions/forget", `{"id":"s1"}`},
		{"POST", "/soap-affinity/policies/fuzz/sessions/forget", `{"id":"s1","id":"s2"}`},
		{"POST", "/soap-affinity/policies/fuzz/sessions/lookup", `{"id":"s3"}`},
		{"POST", "/soap-affinity/policies/fu%7Az/sessions/forget?x", `{"id":"s4"}`},
	} {
		for framing := range framings {
			f.Add(seed.method, seed.target, []byte(seed.body), uint8(framing))
		}
	}
	table := fuzzTable(f)
	mux := adminMux(&AdminAPI{logger: zap.NewNop()})
	f.Fuzz(func(t *testing.T, method, target string, body []byte, framing uint8) {
		framing %= framings
		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n%s", method, target, frame(framing, body))
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || req.Method != method || req.RequestURI != target {
			return // the admin server answers 400 before any handler
		}
		fillFuzzTable(table)
		before := sessionsByID(table)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		after := sessionsByID(table)

		var gone []sessionaffinity.SessionInfo
		for id, s := range before {
			if _, ok := after[id]; !ok {
				gone = append(gone, s)
			}
		}
		if len(gone) == 0 {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s %q answered %d but deleted %d sessions", method, target, body, rec.Code, len(gone))
		}
		path, query, _ := strings.Cut(target, "?")
		switch {
		case method == http.MethodDelete && path == "/soap-affinity/policies/fuzz/sessions" && !strings.Contains(target, "?") &&
			framing == framedExactly && len(body) == 0:
			// Delete all: named as such.
		case method == http.MethodDelete && strings.HasSuffix(path, "/sessions"):
			values, err := url.ParseQuery(query)
			if err != nil || len(values) != 1 || len(values["upstream"]) != 1 {
				t.Fatalf("%s %s %q deleted %d sessions without naming one upstream", method, target, body, len(gone))
			}
			for _, s := range gone {
				if s.Upstream != values["upstream"][0] {
					t.Fatalf("%s %s deleted session %s of upstream %s", method, target, s.ID, s.Upstream)
				}
			}
		case method == http.MethodPost && strings.HasSuffix(path, "/sessions/forget"):
			var named struct{ ID string }
			if json.Unmarshal(body, &named) != nil || len(gone) != 1 || gone[0].ID != named.ID {
				t.Fatalf("%s %s %q deleted %d sessions (first %s)", method, target, body, len(gone), gone[0].ID)
			}
		default:
			t.Fatalf("%s %s %q deleted %d sessions", method, target, body, len(gone))
		}
	})
}

// The framings of a fuzzed request's body.
const (
	framedExactly   = iota // Content-Length: len(body)
	framedTruncated        // Content-Length: len(body)+10, and only body sent
	framedChunked          // one chunk of body, then the last chunk
	framedBadChunk         // Transfer-Encoding: chunked, a size line that does not parse
	framedExpect           // Expect: 100-continue, Content-Length: len(body)
	framings
)

// frame returns the rest of the header and the body, framed as framing says.
func frame(framing uint8, body []byte) string {
	switch framing {
	case framedTruncated:
		return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body)+10, body)
	case framedChunked:
		return fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	case framedBadChunk:
		return fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\nzz\r\n%s", body)
	case framedExpect:
		return fmt.Sprintf("Expect: 100-continue\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// fuzzTable registers a policy named "fuzz" with its table as a policy's
// Provision does.
func fuzzTable(f *testing.F) *sessionaffinity.Table {
	lease, err := state.Acquire("fuzz", sessionaffinity.TableConfig{MaxSessions: 100, Timeout: 3600e9})
	if err != nil {
		f.Fatal(err)
	}
	table := lease.Table()
	lease.Publish(&state.Instance{Table: table, Store: table, Drains: lease.Drains(), Counts: table, Logger: zap.NewNop()})
	f.Cleanup(func() { _, _ = lease.Release() })
	return table
}

// fillFuzzTable binds s0..s11 over the upstreams u0..u2.
func fillFuzzTable(t *sessionaffinity.Table) {
	for i := range 12 {
		t.Bind(fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i%3))
	}
}

func sessionsByID(t *sessionaffinity.Table) map[string]sessionaffinity.SessionInfo {
	out := map[string]sessionaffinity.SessionInfo{}
	for s := range t.All() {
		out[s.ID] = s
	}
	return out
}

// adminMux serves the module's routes as Caddy's admin server does: an error
// returned by a handler becomes its status.
func adminMux(a *AdminAPI) *http.ServeMux {
	mux := http.NewServeMux()
	for _, route := range a.Routes() {
		mux.Handle(route.Pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := route.Handler.ServeHTTP(w, r); err != nil {
				status := http.StatusInternalServerError
				if apiErr := (caddy.APIError{}); errors.As(err, &apiErr) {
					status = apiErr.HTTPStatus
				}
				w.WriteHeader(status)
			}
		}))
	}
	return mux
}
