package redisstore

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// TestLifetimeEndsOnEveryNode is issue 23 item 3: a session with an idle
// timeout and a max_lifetime, used every half second through two nodes in
// turn, and failed over half way, ends at the lifetime of its first binding
// on both nodes: neither a node's use, nor the other node learning it, nor the
// rebind gives it more life.
func TestLifetimeEndsOnEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 100, Timeout: 2 * time.Second, MaxLifetime: 4 * time.Second}
	a, b := newNode(t, on(srv), table, Config{}), newNode(t, on(srv), table, Config{})
	// The first binding is made between born and bound.
	born := time.Now()
	if got, _ := a.Bind("s", "u1"); got != "u1" {
		t.Fatalf("Bind = %q", got)
	}
	bound := time.Now()
	want := "u1"
	// Lifetimes are counted from times Redis answers in whole ms, read from
	// a clock Redis reads once per turn of its event loop, which a busy
	// machine can leave a few ms late (a CI run saw a copy adopted from a
	// PTTL end 2.5ms past the lifetime).
	const redisClock = 20 * time.Millisecond
	for i := 0; time.Since(born) < table.MaxLifetime-300*time.Millisecond; i++ {
		time.Sleep(500 * time.Millisecond)
		if time.Since(born) > table.MaxLifetime-300*time.Millisecond {
			break
		}
		n := []node{b, a}[i%2]
		if i == 2 {
			if got, moved := n.Rebind("s", "u1", "u2"); got != "u2" || !moved {
				t.Fatalf("Rebind = %q, %v", got, moved)
			}
			want = "u2"
		}
		if up, ok := n.Lookup("s"); !ok || up != want {
			t.Fatalf("%s after the first binding: Lookup = %q, %v; want %s", time.Since(born), up, ok, want)
		}
		// Each node's copy ends at the lifetime, not later, and so does the
		// key in Redis (within redisClock).
		if si, _ := n.local.Get("s"); si.Expires.After(bound.Add(table.MaxLifetime + redisClock)) {
			t.Fatalf("a node's copy expires %s after the first binding, past the lifetime %s", si.Expires.Sub(born), table.MaxLifetime)
		}
		if ends := time.Now().Add(srv.PTTL(a.key("s"))); ends.After(bound.Add(table.MaxLifetime + redisClock)) {
			t.Fatalf("the key in redis lives to %s after the first binding, past the lifetime", ends.Sub(born))
		}
	}
	time.Sleep(time.Until(bound.Add(table.MaxLifetime + redisClock)))
	for name, n := range map[string]node{"a": a, "b": b} {
		if up, ok := n.Lookup("s"); ok {
			t.Fatalf("node %s: %s after the first binding, past the lifetime, the session is still bound to %s", name, time.Since(born), up)
		}
	}
	// The next request places the session anew, with a lifetime of its own.
	if got, _ := b.Bind("s", "u3"); got != "u3" {
		t.Fatalf("Bind after the lifetime = %q, want a new binding", got)
	}
	// a cached "no binding" a moment ago; Redis's notice that b bound it
	// reaches a without a round trip, as soon as a reads it.
	redistest.Eventually(t, time.Second, "the other node to follow the new binding", func() bool {
		up, ok := a.Lookup("s")
		return ok && up == "u3"
	})
}

// TestLifetimeOfARebindOfAnExpiredSession: a rebind of a session that is gone
// from Redis is a new binding, with its own lifetime.
func TestLifetimeOfARebindOfAnExpiredSession(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 100, Timeout: time.Minute, MaxLifetime: time.Minute}
	a := newNode(t, on(srv), table, Config{})
	if got, moved := a.Rebind("s", "u1", "u2"); got != "u2" || !moved {
		t.Fatalf("Rebind = %q, %v", got, moved)
	}
	if ttl := srv.PTTL(a.key("s")); ttl < 50*time.Second {
		t.Fatalf("redis ttl %s: want a new session's", ttl)
	}
}

// TestLifetimeOnACluster: a session's lifetime key shares its binding's slot,
// whatever braces its id holds, so that the binding scripts run on a Cluster;
// a node that learns the sessions dates them by their first binding.
func TestLifetimeOnACluster(t *testing.T) {
	masters := redistest.StartCluster(t, 3)
	opts := ClientOptions{Addresses: []string{masters[0].Addr}}
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: time.Minute, MaxLifetime: time.Hour}
	a, b := newNode(t, opts, table, Config{}), newNode(t, opts, table, Config{})
	ids := []string{"plain", "a}b", "{x}y", "{}", "}{", "{{a}}"}
	for i := range 100 {
		ids = append(ids, "cluster-"+strconv.Itoa(i))
	}
	// Each id's first binding is made by the time bound[id]: on a busy
	// machine the hundred binds take hundreds of ms, so one time for all of
	// them would not tell when each was bound.
	bound := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		if got, _ := a.Bind(id, "u1"); got != "u1" {
			t.Fatalf("Bind(%q) = %q", id, got)
		}
		bound[id] = time.Now()
	}
	time.Sleep(200 * time.Millisecond)
	// As in TestLifetimeEndsOnEveryNode: Redis's clock can run a few ms late.
	const redisClock = 20 * time.Millisecond
	for _, id := range ids {
		learnt := time.Now()
		if up, ok := b.Lookup(id); !ok || up != "u1" {
			t.Fatalf("b.Lookup(%q) = %q, %v", id, up, ok)
		}
		// Dated from the lifetime key, not from when b learnt it (at least
		// 200ms after the binding).
		if si, _ := b.local.Get(id); si.Created.After(bound[id].Add(redisClock)) {
			t.Fatalf("b dates %q from %s after its first binding (and learnt it %s after); want the first binding",
				id, si.Created.Sub(bound[id]), learnt.Sub(bound[id]))
		}
	}
	if n := a.out.errors.Load() + b.out.errors.Load(); n != 0 {
		t.Fatalf("%d redis errors", n)
	}
	// The client computes slots too (and refuses keys of different slots):
	// slotOf agrees with it on ids of every shape of braces.
	conn, err := a.client.connect()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		id := make([]byte, rng.IntN(8))
		for i := range id {
			id[i] = "{}ab"[rng.IntN(4)]
		}
		for _, key := range []string{a.key(string(id)), a.lifetimeKey(string(id))} {
			cmd := conn.B().Get().Key(key).Build()
			if want := cmd.Slot(); slotOf(key) != want {
				t.Fatalf("slotOf(%q) = %d, the client's slot %d", key, slotOf(key), want)
			}
		}
	}
}
