package redisstore

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

func TestOutage(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, on(srv), twoMinutes, Config{Backoff: 200 * time.Millisecond})
	a.Bind("known", "u1")

	srv.Stop()
	outage := time.Now()
	for i := range 50 {
		start := time.Now()
		if up, ok := a.Lookup("known"); !ok || up != "u1" {
			t.Fatalf("during the outage Lookup = %q, %v; want the local u1", up, ok)
		}
		if got, _ := a.Bind("new-"+strconv.Itoa(i), "u2"); got != "u2" {
			t.Fatalf("during the outage Bind = %q", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a request waited %s while redis was down", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.out.downs.Load() != 1 || a.out.errors.Load() < 1 || a.out.ups.Load() != 0 {
		t.Fatalf("downs %d, errors %d, ups %d: want one outage reported, errors counted",
			a.out.downs.Load(), a.out.errors.Load(), a.out.ups.Load())
	}
	// The backoff keeps most requests away from the dead Redis: one probe per
	// backoff, counted over the time the loop took (on a busy machine, many
	// times its 0.5s of sleeps), and the failure that began the outage.
	elapsed := time.Since(outage)
	if e, most := a.out.errors.Load(), 2+int64(elapsed/(200*time.Millisecond)); e > most {
		t.Fatalf("%d failed redis commands in 100 requests over %s; the backoff should keep it to %d", e, elapsed, most)
	}

	srv.Restart() // empty: it lost everything
	redistest.Eventually(t, 5*time.Second, "redis to be used again", func() bool {
		a.Lookup("known")
		return a.out.ups.Load() == 1
	})
	// Sessions bound during the outage are shared when they are next used.
	redistest.Eventually(t, 5*time.Second, "new-7 to be shared", func() bool {
		if up, ok := a.Lookup("new-7"); !ok || up != "u2" {
			t.Fatalf("after the outage Lookup = %q, %v; want u2", up, ok)
		}
		return srv.Get(a.key("new-7")) == "u2"
	})
	if srv.Get(a.key("known")) != "u1" {
		t.Fatalf("the known session was not shared again: redis %q", srv.Get(a.key("known")))
	}
	if a.out.downs.Load() != 1 {
		t.Fatalf("%d outages reported, want 1", a.out.downs.Load())
	}
}

// TestOutageUnderLoadReportedOnce is goal 3: eight goroutines keep using the
// store while Redis stops and comes back: one outage and one recovery are
// reported, however many commands were in flight across each change.
func TestOutageUnderLoadReportedOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, on(srv), twoMinutes, Config{Backoff: 50 * time.Millisecond})
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := "load-" + strconv.Itoa(w) + "-" + strconv.Itoa(i%50)
				if _, ok := a.Lookup(id); !ok {
					a.Bind(id, "u"+strconv.Itoa(w))
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Stop()
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	redistest.Eventually(t, 5*time.Second, "the recovery", func() bool { return a.out.ups.Load() > 0 })
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if d, u := a.out.downs.Load(), a.out.ups.Load(); d != 1 || u != 1 {
		t.Fatalf("%d outages and %d recoveries reported (%d errors), want 1 and 1", d, u, a.out.errors.Load())
	}
}

// TestReconcileMovesASessionOnce: while Redis is away, two nodes bind the same
// sessions to different upstreams. When Redis is back, the first node to use
// a session shares its binding, the other follows it: each node changes a
// session's upstream at most once, and they end in agreement.
func TestReconcileMovesASessionOnce(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{Backoff: 50 * time.Millisecond}
	a, b := newNode(t, on(srv), twoMinutes, cfg), newNode(t, on(srv), twoMinutes, cfg)
	srv.Stop()
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = "split-" + strconv.Itoa(i)
		a.Bind(ids[i], "ua")
		b.Bind(ids[i], "ub")
	}
	if a.out.downs.Load() != 1 || b.out.downs.Load() != 1 {
		t.Fatalf("outages reported: a %d, b %d", a.out.downs.Load(), b.out.downs.Load())
	}
	srv.Restart()
	for _, n := range []node{a, b} {
		redistest.Eventually(t, 5*time.Second, "redis to be used again", func() bool {
			n.Lookup("probe")
			return n.out.ups.Load() == 1
		})
	}
	last := map[string][2]string{}
	moves := 0
	for round := range 6 {
		for i, id := range ids {
			for k, n := range []node{a, b} {
				if (i+round)%2 == 1 { // alternate which node comes first
					n = []node{b, a}[k]
					k = 1 - k
				}
				up, ok := n.Lookup(id)
				if !ok {
					t.Fatalf("%s lost on node %d", id, k)
				}
				prev := last[id]
				if prev[k] != "" && prev[k] != up {
					moves++
					if prev[k] != []string{"ua", "ub"}[k] {
						t.Fatalf("%s moved twice on node %d: %s then %s", id, k, prev[k], up)
					}
				}
				if prev[k] == "" && up != []string{"ua", "ub"}[k] {
					moves++
				}
				prev[k] = up
				last[id] = prev
			}
		}
	}
	for _, id := range ids {
		if p := last[id]; p[0] != p[1] || srv.Get(a.key(id)) != p[0] {
			t.Fatalf("%s: node a %s, node b %s, redis %q", id, p[0], p[1], srv.Get(a.key(id)))
		}
	}
	if moves != len(ids) {
		t.Fatalf("%d moves, want one per session (%d)", moves, len(ids))
	}
}

func TestSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, on(srv), twoMinutes, Config{CommandTimeout: 50 * time.Millisecond, Backoff: time.Hour})
	a.Bind("s", "u1")
	// Drop b's cached copy: the next lookup must go to Redis.
	a.client.Close()
	a.client = mustClient(t, on(srv))
	// CLIENT PAUSE leaves every command unanswered, as an overloaded Redis
	// would, and is in force once it is answered (a DEBUG SLEEP sent from a
	// goroutine might not have reached Redis yet on a busy machine, and the
	// lookup would be answered).
	if reply, err := srv.Do("CLIENT", "PAUSE", "5000", "ALL"); reply != "OK" || err != nil {
		t.Fatalf("CLIENT PAUSE = %q, %v", reply, err)
	}
	start := time.Now()
	if up, ok := a.Lookup("s"); !ok || up != "u1" {
		t.Fatalf("Lookup on a slow redis = %q, %v; want the local u1", up, ok)
	}
	// Well under the pause, which a lookup without the timeout would wait
	// out; well over the timeout, which a busy machine can overrun.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Lookup waited %s for a slow redis; the command timeout is 50ms", d)
	}
	if a.out.downs.Load() != 1 {
		t.Fatalf("slow redis not reported: downs %d", a.out.downs.Load())
	}
}

func mustClient(t testing.TB, o ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
