package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// TestForget deletes sessions on node a (as the admin API does) and checks
// that node b, which had them cached and in its local table, places them anew:
// one session, an upstream's sessions, then all of them; another store's
// sessions (another prefix, with a glob character in it) are left alone.
func TestForget(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, on(srv), twoMinutes, Config{KeyPrefix: "p[1]:"})
	b := newNode(t, on(srv), twoMinutes, Config{KeyPrefix: "p[1]:"})
	other := newNode(t, on(srv), twoMinutes, Config{KeyPrefix: "p1:"})
	for i := range 30 {
		id := "s" + strconv.Itoa(i)
		a.Bind(id, "u"+strconv.Itoa(i%3))
		other.Bind(id, "u0")
		b.Lookup(id)
		b.Lookup(id) // cached
	}
	gone := func(id string) {
		t.Helper()
		redistest.Eventually(t, time.Second, "b to drop "+id, func() bool { _, ok := b.Lookup(id); return !ok })
		if _, ok := b.local.Get(id); ok {
			t.Fatalf("%s is still in b's local table", id)
		}
		if got, _ := b.Bind(id, "new"); got != "new" {
			t.Fatalf("%s after its deletion: b.Bind = %q, want it placed anew", id, got)
		}
		if up, ok := a.Lookup(id); !ok || up != "new" {
			t.Fatalf("%s: a follows b's new binding? got %q, %v", id, up, ok)
		}
	}

	if found, err := a.Forget("s0"); !found || err != nil {
		t.Fatalf("Forget(s0) = %v, %v", found, err)
	}
	gone("s0")
	if found, err := a.Forget("never"); found || err != nil {
		t.Fatalf("Forget(never) = %v, %v", found, err)
	}

	n, err := a.ForgetUpstream("u1")
	if n != 10 || err != nil {
		t.Fatalf("ForgetUpstream(u1) = %d, %v; want 10", n, err)
	}
	for i := 1; i < 30; i += 3 {
		gone("s" + strconv.Itoa(i))
	}
	if up, ok := b.Lookup("s2"); !ok || up != "u2" {
		t.Fatalf("s2 of u2 after draining u1: %q, %v", up, ok)
	}

	if n, err := a.ForgetAll(); n != 30 || err != nil {
		t.Fatalf("ForgetAll = %d, %v; want 30", n, err)
	}
	gone("s2")
	if up, ok := other.Lookup("s2"); !ok || up != "u0" {
		t.Fatalf("another store's session: %q, %v", up, ok)
	}

	srv.Stop()
	if _, err := a.Forget("s5"); err == nil {
		t.Fatal("Forget with redis down reported no error")
	}
}
