package caddymodule

import (
	"fmt"
	"testing"
)

// TestSessionsSurviveReload reloads the config three ways and checks that
// sessions keep their binding (or move only when their upstream is gone).
func TestSessionsSurviveReload(t *testing.T) {
	bs := startBackends(t, 4)
	ids := []string{"r1", "r2", "r3", "r4", "r5", "r6"}
	tester := initCaddy(t, proxyConfig(bs[:3], "", "fail_duration 30s"))
	home := map[string]string{}
	for _, id := range ids {
		home[id] = servedBy(t, withSession(id), 1)[0]
	}
	check := func(stage string, moved func(id string) bool) {
		t.Helper()
		for _, id := range ids {
			got := servedBy(t, withSession(id), 2)
			if !allSame(got) {
				t.Fatalf("%s: session %s served by %v", stage, id, got)
			}
			if moved(id) == (got[0] == home[id]) {
				t.Errorf("%s: session %s went to %s (bound to %s before)", stage, id, got[0], home[id])
			}
			home[id] = got[0]
		}
	}

	tester.InitServer(proxyConfig(bs[:3], "", "fail_duration 30s"), "caddyfile")
	check("same config reloaded", func(string) bool { return false })

	tester.InitServer(proxyConfig(bs, "", "fail_duration 30s"), "caddyfile")
	check("upstream added", func(string) bool { return false })

	// Remove b1: its sessions are rebound on next use, the others stay.
	removed := bs[0].name
	wasOnRemoved := map[string]bool{}
	for _, id := range ids {
		wasOnRemoved[id] = home[id] == removed
	}
	tester.InitServer(proxyConfig(bs[1:], "", "fail_duration 30s"), "caddyfile")
	check("upstream removed", func(id string) bool { return wasOnRemoved[id] })
	if n := len(wasOnRemoved); n == 0 {
		t.Fatal("no session was on the removed upstream; the test needs one")
	}
}

// TestProxiesDoNotShareSessionsUnlessNamed runs two reverse_proxy blocks over
// the same backends in opposite order with fallback "first": with separate
// tables a session lands on each block's first backend; with one shared name
// the second block follows the binding the first made.
func TestProxiesDoNotShareSessionsUnlessNamed(t *testing.T) {
	bs := startBackends(t, 2)
	site := func(policyBlock string) string {
		return testConfig(fmt.Sprintf(`	handle /a {
		reverse_proxy %s %s {
			lb_policy simple_client_session {
				fallback first
				%s
			}
		}
	}
	handle /b {
		reverse_proxy %s %s {
			lb_policy simple_client_session {
				fallback first
				%s
			}
		}
	}`, bs[0].addr, bs[1].addr, policyBlock, bs[1].addr, bs[0].addr, policyBlock))
	}
	at := func(path, id string) string {
		req := withSession(id)
		req.path = path
		return servedBy(t, req, 1)[0]
	}

	initCaddy(t, site(""))
	if a, b := at("/a", "s"), at("/b", "s"); a != "b1" || b != "b2" {
		t.Fatalf("unnamed: /a went to %s, /b to %s; want b1 and b2 (separate tables)", a, b)
	}

	initCaddy(t, site("name shared"))
	if a, b := at("/a", "t"), at("/b", "t"); a != "b1" || b != "b1" {
		t.Fatalf("named alike: /a went to %s, /b to %s; want both on b1 (one table)", a, b)
	}
}
