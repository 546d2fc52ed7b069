package redisstore

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// sessionsInRedis counts the live bindings of n's key prefix per upstream,
// by scanning Redis: what the counts must equal.
func sessionsInRedis(t *testing.T, n node) map[string]int {
	t.Helper()
	conn, err := n.client.connect()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counts := map[string]int{}
	var cursor uint64
	for {
		page, err := conn.Do(ctx, conn.B().Scan().Cursor(cursor).Match(n.prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range page.Elements {
			if up, err := conn.Do(ctx, conn.B().Get().Key(key).Build()).ToString(); err == nil && up != "" {
				counts[up]++
			}
		}
		if cursor = page.Cursor; cursor == 0 {
			return counts
		}
	}
}

// countsOf is what c counts on each of upstreams, read afresh.
func countsOf(t *testing.T, c *Counts, upstreams ...string) map[string]int {
	t.Helper()
	if err := c.Refresh(upstreams); err != nil {
		t.Fatalf("reading the counts: %v", err)
	}
	got := map[string]int{}
	for _, u := range upstreams {
		if n := c.SessionsOn(u); n > 0 {
			got[u] = n
		}
	}
	return got
}

// TestExactCounts is issue 23's drains case: 30 sessions, each used through
// both of two nodes, count 30 on both nodes (not 55 and 60), equal to the
// sessions in Redis; a rebind, a deletion and an expiry move the counts at
// once, and a session slid past the score of its binding still counts.
func TestExactCounts(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}
	cfg := Config{CountSets: "test#sessions:"}
	s1, s2 := newNode(t, on(srv), table, cfg), newNode(t, on(srv), table, cfg)
	c1, c2 := s1.Counts("test#counts", "node1", 0), s2.Counts("test#counts", "node2", 0)
	t.Cleanup(c1.Close)
	t.Cleanup(c2.Close)
	ups := []string{"a:80", "b:80", "c:80"}
	for i := range 30 {
		id := fmt.Sprint("s-", i)
		s1.Bind(id, ups[i%3])
		if up, ok := s2.Lookup(id); !ok || up != ups[i%3] {
			t.Fatalf("node 2 looks %s up as %q, %v", id, up, ok)
		}
		s1.Lookup(id)
	}
	want := map[string]int{"a:80": 10, "b:80": 10, "c:80": 10}
	check := func(when string) {
		t.Helper()
		inRedis := sessionsInRedis(t, s1)
		if !maps.Equal(inRedis, want) {
			t.Fatalf("%s: redis holds %v, want %v", when, inRedis, want)
		}
		for i, c := range []*Counts{c1, c2} {
			if got := countsOf(t, c, ups...); !maps.Equal(got, inRedis) {
				t.Errorf("%s: node %d counts %v, redis holds %v", when, i+1, got, inRedis)
			}
		}
	}
	check("30 sessions used through both nodes")
	if n := s2.local.Len(); n != 30 {
		t.Fatalf("node 2's table holds %d sessions, want 30", n)
	}

	if got, moved := s2.Rebind("s-0", "a:80", "b:80"); got != "b:80" || !moved {
		t.Fatalf("Rebind = %q, %v", got, moved)
	}
	want["a:80"], want["b:80"] = 9, 11
	check("after a rebind on node 2")
	if found, err := s1.Forget("s-1"); !found || err != nil {
		t.Fatalf("Forget: %v, %v", found, err)
	}
	want["b:80"] = 10
	check("after a deletion on node 1")
	if n, err := s2.ForgetUpstream("c:80"); n != 10 || err != nil {
		t.Fatalf("ForgetUpstream: %d, %v", n, err)
	}
	delete(want, "c:80")
	check("after deleting an upstream's sessions")
	// This node's own new session counts at once, before the next read.
	s1.Bind("new", "c:80")
	if got := c1.SessionsOn("c:80"); got != 1 {
		t.Errorf("node 1 counts %d on c:80 right after binding one there, want 1", got)
	}
	want["c:80"] = 1
	check("after a new session")

	// Sessions that expire stop counting; one whose key was slid past its
	// score still counts.
	short := newNode(t, on(srv), sessionaffinity.TableConfig{MaxSessions: 10, Timeout: 300 * time.Millisecond},
		Config{CountSets: cfg.CountSets, CacheTTL: 100 * time.Millisecond})
	short.Bind("short-1", "a:80")
	short.Bind("short-2", "b:80")
	want["a:80"]++
	want["b:80"]++
	check("with two short sessions")
	redistest.Eventually(t, 2*time.Second, "the short sessions to expire", func() bool {
		return srv.Get(short.key("short-1")) == "" && srv.Get(short.key("short-2")) == ""
	})
	want["a:80"]--
	want["b:80"]--
	check("after they expired")
	if _, err := srv.Do("ZADD", "test#sessions:a:80", "1", s1.key("s-6")); err != nil {
		t.Fatal(err) // as if s-6 had been slid far past its score
	}
	check("with a session slid past its score")
	if got, err := srv.Do("ZSCORE", "test#sessions:a:80", s1.key("s-6")); err != nil || got == "1" {
		t.Errorf("s-6's score after a read: %q, %v; want its key's expiry", got, err)
	}
}

// Without the sets (as on a Cluster), each node publishes its own counts:
// two nodes' counts add up, each seeing its own live and the other's as last
// published.
func TestPublishedCounts(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}
	s1, s2 := newNode(t, on(srv), table, Config{}), newNode(t, on(srv), table, Config{})
	c1, c2 := s1.Counts("test#counts", "node1", 0), s2.Counts("test#counts", "node2", 0)
	t.Cleanup(c1.Close)
	t.Cleanup(c2.Close)
	for i := range 5 {
		s1.Bind(fmt.Sprint("n1-", i), "a:80")
	}
	for i := range 3 {
		s2.Bind(fmt.Sprint("n2-", i), "b:80")
	}
	if c1.SessionsOn("b:80") != 0 {
		t.Errorf("node 1 counts node 2's sessions before they were published")
	}
	for _, c := range []*Counts{c1, c2, c1} {
		if err := c.sync(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Counts{c1, c2} {
		if a, b := c.SessionsOn("a:80"), c.SessionsOn("b:80"); a != 5 || b != 3 {
			t.Errorf("%s counts a:80 %d, b:80 %d; want 5 and 3", c.node, a, b)
		}
	}
	// Its own sessions count at once.
	s1.Bind("n1-new", "b:80")
	if got := c1.SessionsOn("b:80"); got != 4 {
		t.Errorf("node 1 counts b:80 %d after binding one there, want 4", got)
	}
	// A node that stopped publishing drops out.
	stale := fmt.Sprintf(`{"at":%d,"counts":{"b:80":100}}`, time.Now().Add(-time.Hour).UnixMilli())
	if _, err := srv.Do("HSET", "test#counts", "node3", stale); err != nil {
		t.Fatal(err)
	}
	if err := c1.sync(); err != nil || c1.SessionsOn("b:80") != 4 {
		t.Errorf("with a stale node 3: b:80 %d, %v; want 4", c1.SessionsOn("b:80"), err)
	}
}

// least_sessions on two nodes places on the cluster's exact counts: with 9
// sessions on one upstream, each used through both nodes (counted 18 by
// per-node counts, which then left that upstream at 9 and the others at 15),
// 30 new sessions placed through either node in turn leave the three
// upstreams at 13.
func TestLeastSessionsOnExactCounts(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}
	cfg := Config{CountSets: "test#sessions:"}
	ups := []string{"a:80", "b:80", "c:80"}
	pool := sessionaffinity.Pool{Len: len(ups), Key: func(i int) string { return ups[i] }, Available: func(int) bool { return true }}
	var nodes []node
	var counts []*Counts
	var routers []*sessionaffinity.Router
	for i := range 2 {
		n := newNode(t, on(srv), table, cfg)
		c := n.Counts("test#counts", fmt.Sprint("node", i), 0)
		t.Cleanup(c.Close)
		r, err := sessionaffinity.NewRouter(n.Store, sessionaffinity.RouterConfig{Placement: sessionaffinity.PlaceLeastSessions, Counts: c})
		if err != nil {
			t.Fatal(err)
		}
		nodes, counts, routers = append(nodes, n), append(counts, c), append(routers, r)
	}
	for i := range 9 {
		nodes[0].Bind(fmt.Sprint("old-", i), "a:80")
		nodes[1].Lookup(fmt.Sprint("old-", i))
	}
	noFallback := func(sessionaffinity.DrainReader) int { t.Fatal("least_sessions asked the fallback"); return -1 }
	for i := range 30 {
		id, here := fmt.Sprint("new-", i), i%2
		if err := counts[here].Refresh(ups); err != nil {
			t.Fatal(err)
		}
		d := routers[here].Route(id, sessionaffinity.Attempt{Pool: pool, Place: noFallback})
		if d.Outcome != sessionaffinity.Bound {
			t.Fatalf("new session %s: outcome %d", id, d.Outcome)
		}
	}
	want := map[string]int{"a:80": 13, "b:80": 13, "c:80": 13}
	if got := sessionsInRedis(t, nodes[0]); !maps.Equal(got, want) {
		t.Errorf("after 30 placements on the two nodes' counts: redis holds %v, want %v", got, want)
	}
}
