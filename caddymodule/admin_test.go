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
)

// admin sends a request to the test Caddy's admin endpoint and decodes a JSON
// answer into out (if not nil). It returns the status.
func admin(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, adminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading answer: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %q; want JSON", method, path, ct, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, body, err)
		}
	}
	return resp.StatusCode
}

// adminOK is admin that requires status 200.
func adminOK(t *testing.T, method, path string, out any) {
	t.Helper()
	if status := admin(t, method, path, out); status != http.StatusOK {
		t.Fatalf("%s %s: status %d", method, path, status)
	}
}

// adminError requires an error status with a JSON {"error": "..."} naming want.
func adminError(t *testing.T, method, path string, status int, want string) {
	t.Helper()
	var e struct{ Error string }
	if got := admin(t, method, path, &e); got != status || !strings.Contains(e.Error, want) {
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

func sessionPath(policy, id string) string {
	return "/soap-affinity/policies/" + url.PathEscape(policy) + "/sessions/" + url.PathEscape(id)
}

func TestAdminListsAndPagesSessions(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "{\n name orders\n }", ""))
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%03d", i)
	}
	home := bindSessions(t, bs, ids)

	var policies struct{ Policies []policyInfo }
	adminOK(t, "GET", "/soap-affinity/policies", &policies)
	if !containsPolicy(policies.Policies, policyInfo{Name: "orders", Sessions: 250, Timeout: "2m0s", Expiry: "sliding", MaxSessions: 1_000_000}) {
		t.Fatalf("policies: %+v; want orders with 250 sessions", policies.Policies)
	}

	// Three pages of 100, 100 and 50, each session once, in table order.
	seen := map[string]bool{}
	var first string
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		var list sessionList
		adminOK(t, "GET", "/soap-affinity/policies/orders/sessions?limit=100&cursor="+cursor, &list)
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
		cursor = url.QueryEscape(list.NextCursor)
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

func containsPolicy(list []policyInfo, want policyInfo) bool {
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
	adminOK(t, "GET", sessionPath("deleting", odd), &s)
	if s.ID != odd || s.Upstream != home[odd] || s.Requests != 3 {
		t.Fatalf("session %q: %+v; want upstream %s and 3 requests", odd, s, home[odd])
	}

	// Delete one: it is gone, and its next request starts a new session.
	var d deleted
	adminOK(t, "DELETE", sessionPath("deleting", odd), &d)
	if d.Deleted != 1 {
		t.Fatalf("deleting one session answered %+v", d)
	}
	adminError(t, "GET", sessionPath("deleting", odd), 404, "no session")
	adminError(t, "DELETE", sessionPath("deleting", odd), 404, "no session")
	home[odd] = bindSessions(t, bs, []string{odd})[odd]
	adminOK(t, "GET", sessionPath("deleting", odd), &s)
	if s.Requests != 1 || s.Upstream != home[odd] {
		t.Fatalf("session after delete and one request: %+v; want a new session", s)
	}

	// Drain one upstream: its sessions go, the others stay untouched; the next
	// request of a drained session binds it anew, and it sticks there.
	drained := home["k1"]
	before := map[string]sessionaffinity.SessionInfo{}
	for _, id := range ids {
		adminOK(t, "GET", sessionPath("deleting", id), &s)
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
			adminOK(t, "GET", sessionPath("deleting", id), &s)
			if s != before[id] {
				t.Errorf("session %s on another upstream changed: %+v, was %+v", id, s, before[id])
			}
			continue
		}
		adminError(t, "GET", sessionPath("deleting", id), 404, "no session")
		got := servedBy(t, withSession(id), 3)
		adminOK(t, "GET", sessionPath("deleting", id), &s)
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
		{"GET", sessionPath("nope", "x"), 404, `policy named "nope"`},
		{"GET", sessionPath("errors", "y"), 404, `policy errors has no session "y"`},
		{"GET", "/soap-affinity/policies/errors/sessions?cursor=%21%21", 400, "malformed cursor"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=1000000", 400, "limit \"1000000\": want a number from 1 to 1000"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=0", 400, "want a number from 1 to 1000"},
		{"GET", "/soap-affinity/policies/errors/sessions?limit=ten", 400, "want a number"},
		{"DELETE", "/soap-affinity/policies/errors/sessions?upstream=", 400, "empty upstream"},
		{"PUT", "/soap-affinity/policies/errors/sessions", 405, "allowed: DELETE, GET"},
		{"POST", "/soap-affinity/policies", 405, "allowed: GET"},
		{"GET", "/soap-affinity/sessions", 404, "no such resource"},
	} {
		adminError(t, c.method, c.path, c.status, c.want)
	}
	// None of that touched the session.
	var s sessionaffinity.SessionInfo
	adminOK(t, "GET", sessionPath("errors", "x"), &s)
}
