package caddymodule

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// rawAdmin sends raw bytes to the test Caddy's admin endpoint, closes the
// write side (as a client whose body never arrives does) and returns the
// status of the answer.
func rawAdmin(t *testing.T, raw string) (status int, body string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("localhost:%d", adminPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// TestAdminBodyDeclaredButNotSentDeletesNothing: a call that takes no body
// but declares one (a Content-Length whose bytes never come, a chunked body
// that does not parse, an Expect: 100-continue) is a 400 that changes
// nothing. Such a request used to read as bare and delete every session.
func TestAdminBodyDeclaredButNotSentDeletesNothing(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "{\n name bodies\n }", ""))
	ids := []string{"s1", "s2", "s3", "s4"}
	home := bindSessions(t, bs, ids)
	head := func(method, target string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n", method, target, adminPort)
	}
	const all = "/soap-affinity/policies/bodies/sessions"
	upstream := all + "?upstream=" + home["s1"]
	for _, c := range []struct{ name, raw string }{
		{"content_length_never_sent", head("DELETE", all) + "Content-Length: 10\r\n\r\n"},
		{"content_length_half_sent", head("DELETE", all) + "Content-Length: 10\r\n\r\n{\"id\""},
		{"bad_chunk_size", head("DELETE", all) + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"empty_chunked_body", head("DELETE", all) + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"expect_continue", head("DELETE", all) + "Expect: 100-continue\r\nContent-Length: 12\r\n\r\n"},
		{"expect_continue_no_length", head("DELETE", all) + "Expect: 100-continue\r\n\r\n"},
		{"upstream_content_length_never_sent", head("DELETE", upstream) + "Content-Length: 10\r\n\r\n"},
		{"drain_content_length_never_sent", head("POST", "/soap-affinity/policies/bodies/drain?upstream="+home["s1"]) + "Content-Length: 10\r\n\r\n"},
		{"empty_query_pair", head("DELETE", all+"?&") + "\r\n"},
		{"empty_query_pairs", head("DELETE", all+"?&&") + "\r\n"},
		{"upstream_then_empty_pair", head("DELETE", upstream+"&") + "\r\n"},
		{"forget_body_half_sent", head("POST", all+"/forget") + "Content-Length: 20\r\n\r\n{\"id\":\"s1\""},
		{"forget_bad_chunk", head("POST", all+"/forget") + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\nzz\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := rawAdmin(t, c.raw)
			if status != http.StatusBadRequest {
				t.Errorf("status %d (%s), want 400", status, strings.TrimSpace(body))
			}
			if n := sessionTable(t, "bodies").Len(); n != len(ids) {
				t.Fatalf("%d sessions left of %d", n, len(ids))
			}
			var list struct{ Upstreams []struct{ Draining bool } }
			adminOK(t, "GET", "/soap-affinity/policies/bodies/upstreams", &list)
			for _, u := range list.Upstreams {
				if u.Draining {
					t.Fatal("an upstream is draining")
				}
			}
		})
	}
	// A bare DELETE, with no body and no query, still deletes them all.
	if status, body := rawAdmin(t, head("DELETE", all)+"\r\n"); status != http.StatusOK || !strings.Contains(body, `"deleted":4`) {
		t.Fatalf("bare DELETE: %d %s, want 200 and 4 deleted", status, body)
	}
}

// TestIDsThatAreNotUTF8AreNoSession: an id the admin API could not name (its
// JSON would show the bytes as U+FFFD, so that caf\xe9 and caf\xe8 look the
// same) is treated as no session, as an over-long one is: routed by the
// fallback, never stored. A UTF-8 id beside it can be looked up and forgotten.
func TestIDsThatAreNotUTF8AreNoSession(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "{\n name utf8\n }", ""))
	before := scrape(t)
	for _, id := range []string{"caf\xe9", "caf\xe8", "caf\xe9"} {
		servedBy(t, withSession(id), 1)
	}
	if n := sessionTable(t, "utf8").Len(); n != 0 {
		t.Fatalf("%d sessions stored for ids that are not UTF-8, want 0", n)
	}
	checkDelta(t, "ids that are not UTF-8", before, scrape(t), map[string]float64{
		metricsPrefix + `requests_without_session_total{policy="utf8"}`: 3,
	})
	servedBy(t, withSession("café"), 2)
	var s sessionaffinity.SessionInfo
	lookupOK(t, "utf8", "café", &s)
	if status := oneSession(t, "forget", "utf8", "café", nil); status != http.StatusOK {
		t.Fatalf("forget café: status %d", status)
	}
}
