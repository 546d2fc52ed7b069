package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// commandCalls returns how many commands Redis has run since its statistics
// were last reset, leaving out the test's own INFO and CONFIG.
func commandCalls(t *testing.T, srv *redistest.Server) map[string]int {
	t.Helper()
	info, err := srv.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		name = strings.TrimPrefix(name, "cmdstat_")
		if !ok || name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		n, _, _ := strings.Cut(stats, ",")
		calls[name], _ = strconv.Atoi(n)
	}
	return calls
}

func resetStats(t *testing.T, srv *redistest.Server) {
	t.Helper()
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
}

// TestCachedHitStaysAHit is issue 23 item 5: with the default options and
// sliding expiry, sessions in constant use on two nodes are served from each
// node's cache without a round trip (the slide of a key invalidates every
// node's cached binding, so it must be rare: once per slack, half the 2m
// timeout here, not once a second).
func TestCachedHitStaysAHit(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, on(srv), twoMinutes, Config{}), newNode(t, on(srv), twoMinutes, Config{})
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint("hit-", i)
		a.Bind(ids[i], "u1")
		for _, n := range []node{a, b} {
			if up, ok := n.Lookup(ids[i]); !ok || up != "u1" {
				t.Fatalf("Lookup(%s) = %q, %v", ids[i], up, ok)
			}
		}
	}
	resetStats(t, srv)
	lookups := 0
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		for _, id := range ids {
			for _, n := range []node{a, b} {
				if up, ok := n.Lookup(id); !ok || up != "u1" {
					t.Fatalf("Lookup(%s) = %q, %v", id, up, ok)
				}
				lookups++
			}
		}
	}
	calls := commandCalls(t, srv)
	total := 0
	for _, n := range calls {
		total += n
	}
	// A few stray commands (the counts' publishing, say) are not lookups.
	if total > 10 {
		t.Fatalf("%d lookups of cached sessions made %d redis commands %v; want none", lookups, total, calls)
	}
	t.Logf("%d lookups, redis commands %v", lookups, calls)
}

// TestSlidingKeyOutlivesItsIdleTimeout is the bound of item 5's slack: every
// use leaves the key at least the idle timeout to live, and at most the
// timeout plus the slack (cache_ttl); a busy session's key is slid about once
// per slack, whichever node uses it; once nobody uses it, it ends within the
// slack after its idle timeout.
func TestSlidingKeyOutlivesItsIdleTimeout(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 100, Timeout: 2 * time.Second}
	cfg := Config{CacheTTL: 500 * time.Millisecond}
	a, b := newNode(t, on(srv), table, cfg), newNode(t, on(srv), table, cfg)
	a.Bind("s", "u1")
	resetStats(t, srv)
	var last time.Time
	for i := range 40 { // 4s, twice the timeout, on both nodes in turn
		time.Sleep(100 * time.Millisecond)
		n := []node{a, b}[i%2]
		used := time.Now()
		if up, ok := n.Lookup("s"); !ok || up != "u1" {
			t.Fatalf("Lookup = %q, %v while the session is in use; redis %q %s, local %+v", up, ok, srv.Get(a.key("s")), srv.PTTL(a.key("s")), n.out)
		}
		last = used
		// The key ends no sooner than the timeout after the use (the reading
		// of its ttl comes later: counted from the use, with 20ms for Redis's
		// rounding), and no later than the timeout plus the slack.
		ttl := srv.PTTL(a.key("s"))
		if ends := time.Now().Add(ttl); ends.Before(used.Add(table.Timeout-20*time.Millisecond)) || ttl > table.Timeout+cfg.CacheTTL {
			t.Fatalf("redis ttl %s, %s after a use: want it to end from the timeout %s to it plus the slack %s after the use",
				ttl, time.Since(used), table.Timeout, cfg.CacheTTL)
		}
	}
	if n := commandCalls(t, srv)["pexpire"]; n < 2 || n > 12 {
		t.Fatalf("the key was slid %d times in 4s: want about once per slack (8)", n)
	}
	redistest.Eventually(t, 3*time.Second, "the unused session to expire", func() bool { return srv.Get(a.key("s")) == "" })
	if idle := time.Since(last); idle < table.Timeout {
		t.Fatalf("the session ended %s after its last use, before its idle timeout %s", idle, table.Timeout)
	}
}
