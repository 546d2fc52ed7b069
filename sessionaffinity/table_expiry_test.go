package sessionaffinity

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// manualClock is a nanoClock that moves only when told.
type manualClock struct{ now atomic.Int64 }

func (c *manualClock) NowNano() int64 { return c.now.Load() }

func (c *manualClock) advance(d time.Duration) { c.now.Add(int64(d)) }

// newClockedTable makes a table whose expiry follows a clock that the test
// moves, so that expiry is tested without sleeping and without depending on
// how busy the machine is. The clock starts at the wall time, which the
// table's own timestamps (Created, LastUsed) use.
func newClockedTable(t testing.TB, cfg TableConfig) (*Table, *manualClock) {
	t.Helper()
	clock := new(manualClock)
	clock.now.Store(time.Now().UnixNano())
	tab, err := newTable(cfg, clock)
	if err != nil {
		t.Fatalf("newTable(%+v): %v", cfg, err)
	}
	t.Cleanup(tab.Close)
	return tab, clock
}

// removals records OnRemove calls.
type removals struct {
	mu  sync.Mutex
	got []removal
}

type removal struct {
	id, upstream string
	cause        RemovalCause
}

func (r *removals) onRemove(id, upstream string, cause RemovalCause) {
	r.mu.Lock()
	r.got = append(r.got, removal{id, upstream, cause})
	r.mu.Unlock()
}

func (r *removals) snapshot() []removal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]removal(nil), r.got...)
}

func (r *removals) count(cause RemovalCause) int {
	n := 0
	for _, x := range r.snapshot() {
		if x.cause == cause {
			n++
		}
	}
	return n
}

func TestTableSlidingExpiry(t *testing.T) {
	const timeout, step = 300 * time.Millisecond, 100 * time.Millisecond
	rem := &removals{}
	tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: timeout, Expiry: ExpirySliding, OnRemove: rem.onRemove})
	tab.Bind("hot", "a")
	tab.Bind("idle", "b")

	// The hot session is looked up every step, the idle one never. Expiry
	// removals run on a timer wheel whose buckets span about a second, so the
	// idle session's OnRemove may come a few seconds after its timeout.
	for elapsed := step; elapsed <= 3*time.Second; elapsed += step {
		clock.advance(step)
		if got, ok := tab.Lookup("hot"); !ok || got != "a" {
			t.Fatalf("hot session looked up every %s (timeout %s) lost after %s: Lookup = (%q, %v)", step, timeout, elapsed, got, ok)
		}
		_, idleThere := tab.Get("idle") // Get does not count as a use
		switch {
		case elapsed < timeout && !idleThere:
			t.Fatalf("idle session gone after %s, before its timeout %s", elapsed, timeout)
		case elapsed > timeout && idleThere:
			t.Fatalf("idle session still there after %s (timeout %s)", elapsed, timeout)
		}
		tab.CleanUp()
	}
	if _, ok := tab.Lookup("idle"); ok {
		t.Error("Lookup found the expired idle session")
	}
	if got := rem.snapshot(); len(got) != 1 || got[0] != (removal{"idle", "b", RemovedExpired}) {
		t.Errorf("OnRemove calls while the hot session was in use = %+v, want the idle session's expiry alone", got)
	}

	// Once idle, the hot session goes too.
	clock.advance(timeout + step)
	if _, ok := tab.Get("hot"); ok {
		t.Errorf("hot session still there %s after its last use (timeout %s)", timeout+step, timeout)
	}
	clock.advance(3 * time.Second)
	tab.CleanUp()
	if n := rem.count(RemovedExpired); n != 2 {
		t.Errorf("%d expiries reported, want 2: %+v", n, rem.snapshot())
	}
}

func TestTableFixedExpiry(t *testing.T) {
	const timeout, step = 300 * time.Millisecond, 20 * time.Millisecond
	rem := &removals{}
	tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: timeout, Expiry: ExpiryFixed, OnRemove: rem.onRemove})
	tab.Bind("s", "a")
	info, _ := tab.Get("s")
	if d := info.Expires.Sub(info.Created); d < timeout-5*time.Millisecond || d > timeout+5*time.Millisecond {
		t.Errorf("fixed expiry: Expires - Created = %s, want %s", d, timeout)
	}
	// Looked up every step, the session still goes at its timeout.
	for elapsed := step; elapsed < timeout; elapsed += step {
		clock.advance(step)
		if _, ok := tab.Lookup("s"); !ok {
			t.Fatalf("session gone after %s, before its timeout %s", elapsed, timeout)
		}
		if got, _ := tab.Get("s"); !got.Expires.Equal(info.Expires) {
			t.Fatalf("a lookup moved the fixed expiry from %v to %v", info.Expires, got.Expires)
		}
	}
	clock.advance(2 * step)
	if _, ok := tab.Lookup("s"); ok {
		t.Fatalf("a session looked up every %s still lives after its fixed timeout %s", step, timeout)
	}
	clock.advance(3 * time.Second)
	tab.CleanUp()
	if got := rem.snapshot(); len(got) != 1 || got[0] != (removal{"s", "a", RemovedExpired}) {
		t.Errorf("OnRemove calls = %+v, want the session's expiry", got)
	}
}

// A rebind (failover) keeps a fixed session's deadline, and restarts a sliding
// one's.
func TestTableRebindExpiry(t *testing.T) {
	for _, tc := range []struct {
		expiry    Expiry
		wantMoved bool
	}{{ExpiryFixed, false}, {ExpirySliding, true}} {
		t.Run(string(tc.expiry), func(t *testing.T) {
			tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: 10 * time.Second, Expiry: tc.expiry})
			tab.Bind("s", "a")
			before, _ := tab.Get("s")
			clock.advance(1100 * time.Millisecond) // more than the second the check below allows
			tab.Rebind("s", "a", "b")
			after, _ := tab.Get("s")
			moved := after.Expires.Sub(before.Expires) > time.Second
			if moved != tc.wantMoved {
				t.Errorf("Rebind moved Expires from %v to %v (moved=%v, want %v)", before.Expires, after.Expires, moved, tc.wantMoved)
			}
		})
	}
}

func TestTableOnRemoveEvicted(t *testing.T) {
	rem := &removals{}
	const maxSessions, inserted = 10, 1000
	tab := newTestTable(t, TableConfig{MaxSessions: maxSessions, Timeout: time.Hour, OnRemove: rem.onRemove})
	for i := range inserted {
		tab.Bind("id-"+strconv.Itoa(i), "u-"+strconv.Itoa(i%3))
	}
	tab.CleanUp()
	if n := tab.Len(); n > maxSessions {
		t.Errorf("Len() after CleanUp = %d, want <= %d", n, maxSessions)
	}
	eventually(t, 2*time.Second, "not every evicted session was reported", func() bool {
		return rem.count(RemovedEvicted)+tab.Len() == inserted
	})
	if n := rem.count(RemovedExpired); n != 0 {
		t.Errorf("%d sessions reported expired with a timeout of an hour", n)
	}
	for _, r := range rem.snapshot() {
		i, err := strconv.Atoi(strings.TrimPrefix(r.id, "id-"))
		if err != nil || r.upstream != "u-"+strconv.Itoa(i%3) {
			t.Fatalf("OnRemove(%q, %q): wrong id or upstream", r.id, r.upstream)
		}
	}
}

// OnRemove is for expiry and eviction only: a delete, rebind, drain or flush
// must not report.
func TestTableOnRemoveNotForExplicitRemovals(t *testing.T) {
	rem := &removals{}
	tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Hour, OnRemove: rem.onRemove})
	for i := range 20 {
		tab.Bind("id-"+strconv.Itoa(i), "u-"+strconv.Itoa(i%2))
	}
	_, _ = tab.Forget("id-0")
	tab.Rebind("id-1", "u-1", "u-0")
	tab.Bind("id-2", "other")
	_, _ = tab.ForgetUpstream("u-1")
	_, _ = tab.ForgetAll()
	tab.CleanUp()
	time.Sleep(100 * time.Millisecond) // give an asynchronous callback time to show up
	if got := rem.snapshot(); len(got) != 0 {
		t.Errorf("OnRemove called for explicit removals: %+v", got)
	}
}
