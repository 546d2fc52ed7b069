package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/admin"
)

// adminCall sends a request to the test Caddy's admin endpoint and decodes a JSON
// answer into out (if not nil). It returns the status.
func adminCall(t *testing.T, method, path string, out any) int {
	t.Helper()
	return adminWithBody(t, method, path, "", out)
}

// adminWithBody is adminCall with a request body.
func adminWithBody(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, adminURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading answer: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %q; want JSON", method, path, ct, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, answer, err)
		}
	}
	return resp.StatusCode
}

// adminOK is admin that requires status 200.
func adminOK(t *testing.T, method, path string, out any) {
	t.Helper()
	if status := adminCall(t, method, path, out); status != http.StatusOK {
		t.Fatalf("%s %s: status %d", method, path, status)
	}
}

// adminError requires an error status with a JSON {"error": "..."} naming want.
func adminError(t *testing.T, method, path string, status int, want string) {
	t.Helper()
	var e struct{ Error string }
	if got := adminCall(t, method, path, &e); got != status || !strings.Contains(e.Error, want) {
		t.Errorf("%s %s: status %d, error %q; want %d and an error with %q", method, path, got, e.Error, status, want)
	}
}

type sessionList struct {
	Sessions   []sessionaffinity.SessionInfo
	NextCursor string `json:"next_cursor"`
}

// bindSessions sends one request for each id and returns the upstream (dial
// address) each went to.
func bindSessions(t *testing.T, bs []*backend, ids []string) map[string]string {
	t.Helper()
	addrOf := map[string]string{}
	for _, b := range bs {
		addrOf[b.name] = b.addr
	}
	home := map[string]string{}
	for _, id := range ids {
		home[id] = addrOf[servedBy(t, withSession(id), 1)[0]]
	}
	return home
}

// oneSession calls lookup or forget for one session, named in the body.
func oneSession(t *testing.T, action, policy, id string, out any) int {
	t.Helper()
	body, err := json.Marshal(map[string]string{"id": id})
	if err != nil {
		t.Fatal(err)
	}
	return adminWithBody(t, http.MethodPost, "/soap-affinity/policies/"+url.PathEscape(policy)+"/sessions/"+action, string(body), out)
}

// lookupOK requires the session to be found.
func lookupOK(t *testing.T, policy, id string, out *sessionaffinity.SessionInfo) {
	t.Helper()
	if status := oneSession(t, "lookup", policy, id, out); status != http.StatusOK {
		t.Fatalf("lookup of %q in %s: status %d", id, policy, status)
	}
}

// oneSessionError requires an error naming want.
func oneSessionError(t *testing.T, action, policy, id string, status int, want string) {
	t.Helper()
	var e struct{ Error string }
	if got := oneSession(t, action, policy, id, &e); got != status || !strings.Contains(e.Error, want) {
		t.Errorf("%s %q in %s: status %d, error %q; want %d and an error with %q", action, id, policy, got, e.Error, status, want)
	}
}

func TestAdminListsAndPagesSessions(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "{\n name orders\n }", ""))
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%03d", i)
	}
	home := bindSessions(t, bs, ids)

	var policies struct{ Policies []admin.PolicyInfo }
	adminOK(t, "GET", "/soap-affinity/policies", &policies)
	if !containsPolicy(policies.Policies, admin.PolicyInfo{Name: "orders", Sessions: 250, Timeout: "2m0s", Expiry: "sliding", MaxSessions: 1_000_000}) {
		t.Fatalf("policies: %+v; want orders with 250 sessions", policies.Policies)
	}

	// Three pages of 100, 100 and 50, each session once, in table order.
	seen := map[string]bool{}
	var first string
	var sizes []int
	query := ""
	for page := 0; ; page++ {
		var list sessionList
		adminOK(t, "GET", "/soap-affinity/policies/orders/sessions?limit=100"+query, &list)
		sizes = append(sizes, len(list.Sessions))
		for _, s := range list.Sessions {
			if seen[s.ID] {
				t.Fatalf("page %d repeats session %s", page, s.ID)
			}
			seen[s.ID] = true
			if first == "" {
				first = s.ID
			}
			if s.Upstream != home[s.ID] || s.Requests != 1 || s.Expires.Sub(s.LastUsed).Round(time.Second) != 2*time.Minute {
				t.Errorf("session %+v; want upstream %s, 1 request, expiring 2m after last use", s, home[s.ID])
			}
		}
		if list.NextCursor == "" {
			break
		}
		if strings.Contains(list.NextCursor, list.Sessions[len(list.Sessions)-1].ID) {
			t.Fatalf("next_cursor %q shows the last id of the page: cursors go in URLs, which Caddy logs", list.NextCursor)
		}
		query = "&cursor=" + url.QueryEscape(list.NextCursor)
	}
	if fmt.Sprint(sizes) != "[100 100 50]" || len(seen) != len(ids) {
		t.Fatalf("pages of %v, %d distinct sessions; want [100 100 50] and all 250", sizes, len(seen))
	}

	// The default limit is 100; the filter keeps one upstream's sessions.
	var list sessionList
	adminOK(t, "GET", "/soap-affinity/policies/orders/sessions", &list)
	if len(list.Sessions) != 100 || list.Sessions[0].ID != first || list.NextCursor == "" {
		t.Fatalf("default page: %d sessions from %s, next %q", len(list.Sessions), list.Sessions[0].ID, list.NextCursor)
	}
	onB2 := 0
	for _, up := range home {
		if up == bs[1].addr {
			onB2++
		}
	}
	list = sessionList{}
	adminOK(t, "GET", "/soap-affinity/policies/orders/sessions?limit=1000&upstream="+bs[1].addr, &list)
	if len(list.Sessions) != onB2 || onB2 == 0 || list.NextCursor != "" {
		t.Fatalf("upstream %s: listed %d sessions (next %q), %d are bound there", bs[1].addr, len(list.Sessions), list.NextCursor, onB2)
	}
	for _, s := range list.Sessions {
		if s.Upstream != bs[1].addr {
			t.Fatalf("filter on %s listed %+v", bs[1].addr, s)
		}
	}
}

func containsPolicy(list []admin.PolicyInfo, want admin.PolicyInfo) bool {
	for _, p := range list {
		if p == want {
			return true
		}
	}
	return false
}

func TestAdminGetsAndDeletesSessions(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "{\n name deleting\n }", ""))
	odd := "a/b c?d%e#f"
	ids := []string{odd, "k1", "k2", "k3", "k4", "k5", "k6"}
	home := bindSessions(t, bs, ids)
	servedBy(t, withSession(odd), 2)

	var s sessionaffinity.SessionInfo
	lookupOK(t, "deleting", odd, &s)
	if s.ID != odd || s.Upstream != home[odd] || s.Requests != 3 {
		t.Fatalf("session %q: %+v; want upstream %s and 3 requests", odd, s, home[odd])
	}

	// Delete one: it is gone, and its next request starts a new session.
	var d deleted
	if status := oneSession(t, "forget", "deleting", odd, &d); status != http.StatusOK || d.Deleted != 1 {
		t.Fatalf("deleting one session answered %+v", d)
	}
	oneSessionError(t, "lookup", "deleting", odd, 404, "no such session")
	oneSessionError(t, "forget", "deleting", odd, 404, "no such session")
	home[odd] = bindSessions(t, bs, []string{odd})[odd]
	lookupOK(t, "deleting", odd, &s)
	if s.Requests != 1 || s.Upstream != home[odd] {
		t.Fatalf("session after delete and one request: %+v; want a new session", s)
	}

	// Drain one upstream: its sessions go, the others stay untouched; the next
	// request of a drained session binds it anew, and it sticks there.
	drained := home["k1"]
	before := map[string]sessionaffinity.SessionInfo{}
	for _, id := range ids {
		lookupOK(t, "deleting", id, &s)
		before[id] = s
	}
	want := 0
	for _, id := range ids {
		if home[id] == drained {
			want++
		}
	}
	d = deleted{}
	adminOK(t, "DELETE", "/soap-affinity/policies/deleting/sessions?upstream="+drained, &d)
	if d.Deleted != want || want < 2 {
		t.Fatalf("draining %s deleted %d sessions; %d were bound there", drained, d.Deleted, want)
	}
	var list sessionList
	adminOK(t, "GET", "/soap-affinity/policies/deleting/sessions?upstream="+drained, &list)
	if len(list.Sessions) != 0 {
		t.Fatalf("after drain, %s still has %+v", drained, list.Sessions)
	}
	for _, id := range ids {
		if home[id] != drained {
			lookupOK(t, "deleting", id, &s)
			if s != before[id] {
				t.Errorf("session %s on another upstream changed: %+v, was %+v", id, s, before[id])
			}
			continue
		}
		oneSessionError(t, "lookup", "deleting", id, 404, "no such session")
		got := servedBy(t, withSession(id), 3)
		lookupOK(t, "deleting", id, &s)
		if !allSame(got) || s.Requests != 3 || !s.Created.After(before[id].Created) {
			t.Errorf("drained session %s: served by %v, now %+v; want a new binding that sticks", id, got, s)
		}
	}

	// Delete all.
	d = deleted{}
	adminOK(t, "DELETE", "/soap-affinity/policies/deleting/sessions", &d)
	if d.Deleted != len(ids) {
		t.Fatalf("deleting all answered %+v; want %d", d, len(ids))
	}
	adminOK(t, "GET", "/soap-affinity/policies/deleting/sessions", &list)
	if len(list.Sessions) != 0 {
		t.Fatalf("after deleting all: %+v", list.Sessions)
	}
}

func TestAdminRejectsBadRequests(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, proxyConfig(bs, "{\n name errors\n }", ""))
	servedBy(t, withSession("x"), 1)
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/soap-affinity/policies/nope/sessions", 404, `no simple_client_session policy named "nope"`},
		{"DELETE", "/soap-affinity/policies/nope/sessions", 404, `policy named "nope"`},
		{"GET", "/soap-affinity/policies/errors/sessions/x", 410, "no longer go in the URL"},
		{"DELETE", "/soap-affinity/policies/errors/sessions/x", 410, "no longer go in the URL"},
		{"POST", "/soap-affinity/policies/errors/sessions/lookup", 400, `want a body {"id": "<session id>"}`},
		{"GET", "/soap-affinity/policies/errors/sessions?upstream=[fe80::1%eth0]:22002", 400, "malformed query"},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstream=[fe80::1%eth0]:22002", 400, "malformed query"},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstream", 400, "empty upstream"},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstream=a&upstream=b", 400, `parameter "upstream" given 2 times`},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstreams=a", 400, `unknown parameter "upstreams"`},
		{"DELETE", "/soap-affinity/policies/errors/sessions?id=x", 400, `unknown parameter "id"`},
		{"GET", "/soap-affinity/policies/errors/sessions?upstream=", 400, "empty upstream"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=1&limit=2", 400, "given 2 times"},
		{"GET", "/soap-affinity/policies?x=1", 400, `unknown parameter "x": this call takes none`},
		{"GET", "/soap-affinity/policies/errors/sessions?cursor=%21%21", 400, "malformed cursor"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=1000000", 400, "limit \"1000000\": want a number from 1 to 1000"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=0", 400, "want a number from 1 to 1000"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=ten", 400, "want a number"},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstream=", 400, "empty upstream"},
		{"PUT", "/soap-affinity/policies/errors/sessions", 405, "allowed: DELETE, GET"},
		{"GET", "/soap-affinity/policies/errors/sessions/lookup", 405, "allowed: POST"},
		{"POST", "/soap-affinity/policies", 405, "allowed: GET"},
		{"GET", "/soap-affinity/sessions", 404, "no such resource"},
	} {
		adminError(t, c.method, c.path, c.status, c.want)
	}
	for _, c := range []struct{ action, policy, body, want string }{
		{"lookup", "nope", `{"id":"x"}`, `policy named "nope"`},
		{"forget", "errors", `{"id":"x","id":"x"}`, "nothing else"},
		{"forget", "errors", `{"id":""}`, "non-empty id"},
		{"forget", "errors", `{"id":"x","upstream":"y"}`, "nothing else"},
		{"forget", "errors", `{"id":"x"} {"id":"y"}`, "nothing else"},
		{"forget", "errors", `["x"]`, "want a body"},
		{"forget", "errors", ``, "want a body"},
	} {
		status := 400
		if c.policy == "nope" {
			status = 404
		}
		var e struct{ Error string }
		if got := adminWithBody(t, "POST", "/soap-affinity/policies/"+c.policy+"/sessions/"+c.action, c.body, &e); got != status || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s %s with %q: status %d, error %q; want %d and %q", c.action, c.policy, c.body, got, e.Error, status, c.want)
		}
	}
	// A body on a call that takes none: a DELETE of all with one id in its
	// body must not delete all.
	var e struct{ Error string }
	if got := adminWithBody(t, "DELETE", "/soap-affinity/policies/errors/sessions", `{"id":"x"}`, &e); got != 400 || !strings.Contains(e.Error, "takes no body") {
		t.Errorf("DELETE all with a body: status %d, error %q; want 400", got, e.Error)
	}
	oneSessionError(t, "lookup", "errors", "y", 404, "no such session")
	// None of that touched the session.
	var s sessionaffinity.SessionInfo
	lookupOK(t, "errors", "x", &s)
}

// deleted is the answer of the admin API's deletes, as a client reads it.
type deleted struct {
	Deleted int `json:"deleted"`
}
