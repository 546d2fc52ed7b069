package sessionaffinity

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestTable(t testing.TB, cfg TableConfig) *Table {
	t.Helper()
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatalf("NewTable(%+v): %v", cfg, err)
	}
	t.Cleanup(tab.Close)
	return tab
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTableConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     TableConfig
		wantErr string // substring; "" = valid
	}{
		{name: "sliding_default", cfg: TableConfig{MaxSessions: 1, Timeout: time.Nanosecond}},
		{name: "sliding", cfg: TableConfig{MaxSessions: 1000000, Timeout: 2 * time.Minute, Expiry: ExpirySliding}},
		{name: "fixed", cfg: TableConfig{MaxSessions: 10, Timeout: time.Second, Expiry: ExpiryFixed}},
		{name: "max_sessions_zero", cfg: TableConfig{MaxSessions: 0, Timeout: time.Second}, wantErr: "got 0"},
		{name: "max_sessions_negative", cfg: TableConfig{MaxSessions: -7, Timeout: time.Second}, wantErr: "got -7"},
		{name: "timeout_zero", cfg: TableConfig{MaxSessions: 1, Timeout: 0}, wantErr: "got 0s"},
		{name: "timeout_negative", cfg: TableConfig{MaxSessions: 1, Timeout: -time.Minute}, wantErr: "got -1m0s"},
		{name: "unknown_expiry", cfg: TableConfig{MaxSessions: 1, Timeout: time.Second, Expiry: "lru"}, wantErr: `"lru"`},
		{name: "expiry_wrong_case", cfg: TableConfig{MaxSessions: 1, Timeout: time.Second, Expiry: "Sliding"}, wantErr: `"Sliding"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			tab, newErr := NewTable(tc.cfg)
			if tab != nil {
				defer tab.Close()
			}
			if tc.wantErr == "" {
				if err != nil || newErr != nil {
					t.Fatalf("Validate() = %v, NewTable error = %v; want both nil", err, newErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate() = %v, want an error containing %s", err, tc.wantErr)
			}
			if newErr == nil || !strings.Contains(newErr.Error(), tc.wantErr) {
				t.Errorf("NewTable error = %v, want one containing %s", newErr, tc.wantErr)
			}
			if tab != nil {
				t.Errorf("NewTable returned a table along with an error")
			}
		})
	}
}

func TestTableConfigDefaultsExpiry(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Minute})
	if got := tab.Config().Expiry; got != ExpirySliding {
		t.Errorf("Config().Expiry = %q, want %q", got, ExpirySliding)
	}
	if got := tab.Config().MaxSessions; got != 10 {
		t.Errorf("Config().MaxSessions = %d, want 10", got)
	}
}

func TestTableBindLookup(t *testing.T) {
	for _, expiry := range []Expiry{ExpirySliding, ExpiryFixed} {
		t.Run(string(expiry), func(t *testing.T) {
			tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute, Expiry: expiry})
			steps := []struct {
				op, id, upstream string
				want             string
				wantFound        bool
			}{
				{op: "lookup", id: "s1", want: "", wantFound: false},
				{op: "bind", id: "s1", upstream: "a:1", want: "a:1"},
				{op: "lookup", id: "s1", want: "a:1", wantFound: true},
				{op: "bind", id: "s1", upstream: "b:2", want: "a:1"}, // first binder wins
				{op: "lookup", id: "s1", want: "a:1", wantFound: true},
				{op: "lookup", id: "S1", want: "", wantFound: false}, // ids are case-sensitive
				{op: "bind", id: "s2", upstream: "b:2", want: "b:2"},
				{op: "lookup", id: "s2", want: "b:2", wantFound: true},
				{op: "delete", id: "s1", wantFound: true},
				{op: "delete", id: "s1", wantFound: false},
				{op: "lookup", id: "s1", want: "", wantFound: false},
				{op: "bind", id: "s1", upstream: "c:3", want: "c:3"}, // a deleted session binds anew
				{op: "lookup", id: "s1", want: "c:3", wantFound: true},
			}
			for i, s := range steps {
				switch s.op {
				case "lookup":
					got, found := tab.Lookup(s.id)
					if got != s.want || found != s.wantFound {
						t.Fatalf("step %d: Lookup(%q) = (%q, %v), want (%q, %v)", i, s.id, got, found, s.want, s.wantFound)
					}
				case "bind":
					if got, _ := tab.Bind(s.id, s.upstream); got != s.want {
						t.Fatalf("step %d: Bind(%q, %q) = %q, want %q", i, s.id, s.upstream, got, s.want)
					}
				case "delete":
					if got, _ := tab.Forget(s.id); got != s.wantFound {
						t.Fatalf("step %d: Forget(%q) = %v, want %v", i, s.id, got, s.wantFound)
					}
				}
			}
			if n := tab.Len(); n != 2 {
				t.Errorf("Len() = %d, want 2", n)
			}
		})
	}
}

func TestTableBindConcurrentFirstWins(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10000, Timeout: time.Minute})
	const goroutines, ids = 50, 200
	results := make([][]string, goroutines)
	var made [ids]atomic.Int32
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			start.Wait()
			res := make([]string, ids)
			for i := range ids {
				var m bool
				if res[i], m = tab.Bind("id-"+strconv.Itoa(i), "upstream-"+strconv.Itoa(g)); m {
					made[i].Add(1)
				}
			}
			results[g] = res
		})
	}
	start.Done()
	wg.Wait()
	for i := range ids {
		want := results[0][i]
		if !strings.HasPrefix(want, "upstream-") {
			t.Fatalf("id-%d bound to %q", i, want)
		}
		if n := made[i].Load(); n != 1 {
			t.Fatalf("id-%d: %d of %d goroutines made the binding, want 1", i, n, goroutines)
		}
		for g := 1; g < goroutines; g++ {
			if results[g][i] != want {
				t.Fatalf("id-%d: goroutine %d got %q, goroutine 0 got %q", i, g, results[g][i], want)
			}
		}
		if got, _ := tab.Lookup("id-" + strconv.Itoa(i)); got != want {
			t.Fatalf("Lookup(id-%d) = %q, Bind said %q", i, got, want)
		}
	}
}

func TestTableRebind(t *testing.T) {
	for _, expiry := range []Expiry{ExpirySliding, ExpiryFixed} {
		t.Run(string(expiry), func(t *testing.T) {
			tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute, Expiry: expiry})
			steps := []struct {
				id, from, to string
				want         string
				moved        bool
			}{
				{"s", "", "a", "a", true},   // vanished (never bound): binds
				{"s", "a", "b", "b", true},  // compare-and-set succeeds
				{"s", "a", "c", "b", false}, // stale: nothing happens, the current one is returned
				{"s", "c", "a", "b", false}, // unknown from: nothing happens
				{"s", "a", "b", "b", false}, // stale, to where it is: a follow, not a move
				{"s", "b", "b", "b", true},  // to itself
				{"s", "b", "c", "c", true},
				{"t", "x", "y", "y", true}, // vanished session with a from: binds to
			}
			for i, s := range steps {
				if got, moved := tab.Rebind(s.id, s.from, s.to); got != s.want || moved != s.moved {
					t.Fatalf("step %d: Rebind(%q, %q, %q) = %q, %v; want %q, %v", i, s.id, s.from, s.to, got, moved, s.want, s.moved)
				}
				if got, _ := tab.Lookup(s.id); got != s.want {
					t.Fatalf("step %d: Lookup(%q) after Rebind = %q, want %q", i, s.id, got, s.want)
				}
			}

			// A session that is deleted in between is bound again.
			_, _ = tab.Forget("s")
			if got, moved := tab.Rebind("s", "c", "d"); got != "d" || !moved {
				t.Errorf("Rebind of a deleted session = %q, %v; want d, moved", got, moved)
			}
		})
	}
}

func TestTableRebindKeepsHistory(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute})
	tab.Bind("s", "a")
	tab.Lookup("s")
	tab.Lookup("s")
	before, _ := tab.Get("s")
	time.Sleep(2 * time.Millisecond)
	tab.Rebind("s", "a", "b")
	after, ok := tab.Get("s")
	if !ok {
		t.Fatal("session gone after Rebind")
	}
	if !after.Created.Equal(before.Created) {
		t.Errorf("Rebind changed Created from %v to %v", before.Created, after.Created)
	}
	if after.Requests != before.Requests {
		t.Errorf("Rebind changed Requests from %d to %d", before.Requests, after.Requests)
	}
	if !after.LastUsed.After(before.LastUsed) {
		t.Errorf("Rebind did not move LastUsed (%v, before %v)", after.LastUsed, before.LastUsed)
	}
	if after.Upstream != "b" {
		t.Errorf("Upstream = %q, want b", after.Upstream)
	}
}

func TestTableRebindConcurrent(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute})
	const goroutines = 50
	for round := range 20 {
		id := "s" + strconv.Itoa(round)
		tab.Bind(id, "old")
		results := make([]string, goroutines)
		var moves atomic.Int32
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				var moved bool
				if results[g], moved = tab.Rebind(id, "old", "new-"+strconv.Itoa(g)); moved {
					moves.Add(1)
				}
			})
		}
		wg.Wait()
		if n := moves.Load(); n != 1 {
			t.Fatalf("round %d: %d concurrent failovers say they moved the session, want 1", round, n)
		}
		for g := 1; g < goroutines; g++ {
			if results[g] != results[0] {
				t.Fatalf("round %d: concurrent failovers disagree: %q and %q", round, results[0], results[g])
			}
		}
		if results[0] == "old" {
			t.Fatalf("round %d: no rebind happened", round)
		}
	}
}

func TestTableSizeBound(t *testing.T) {
	const maxSessions, inserted = 1000, 100000
	tab := newTestTable(t, TableConfig{MaxSessions: maxSessions, Timeout: time.Hour})
	for i := range inserted {
		tab.Bind("flood-"+strconv.Itoa(i), "u")
	}
	tab.CleanUp()
	// One-off ids only ever fill the trial tier.
	if trial := maxSessions / trialShare; tab.Len() != trial {
		t.Errorf("Len() after %d one-off binds and CleanUp = %d, want the trial tier's %d", inserted, tab.Len(), trial)
	}
	all := 0
	for range tab.All() {
		all++
	}
	if all > maxSessions {
		t.Errorf("All() yielded %d sessions, bound %d", all, maxSessions)
	}

	// Sessions used twice fill the rest, and the bound holds.
	for i := range inserted {
		id := "reused-" + strconv.Itoa(i)
		tab.Bind(id, "u")
		tab.Lookup(id)
	}
	tab.CleanUp()
	if n := tab.Len(); n > maxSessions || n < maxSessions*9/10 {
		t.Errorf("Len() after %d sessions used twice and CleanUp = %d, want about %d and never more", inserted, n, maxSessions)
	}
}

func TestTableForgetUpstream(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 1000, Timeout: time.Hour})
	ups := []string{"a:1", "b:2", "c:3"}
	for i := range 30 {
		tab.Bind("id-"+strconv.Itoa(i), ups[i%3])
	}
	tests := []struct {
		upstream string
		want     int
		wantLen  int
	}{
		{"b:2", 10, 20},
		{"b:2", 0, 20},
		{"nope", 0, 20},
		{"", 0, 20},
		{"a", 0, 20}, // no prefix match
		{"a:1", 10, 10},
	}
	for _, tc := range tests {
		if got, _ := tab.ForgetUpstream(tc.upstream); got != tc.want {
			t.Errorf("ForgetUpstream(%q) = %d, want %d", tc.upstream, got, tc.want)
		}
		if n := tab.Len(); n != tc.wantLen {
			t.Errorf("Len() after ForgetUpstream(%q) = %d, want %d", tc.upstream, n, tc.wantLen)
		}
	}
	for i := range 30 {
		got, ok := tab.Lookup("id-" + strconv.Itoa(i))
		if wantOK := ups[i%3] == "c:3"; ok != wantOK || (ok && got != "c:3") {
			t.Errorf("Lookup(id-%d) = (%q, %v) after draining a:1 and b:2", i, got, ok)
		}
	}
}

func TestTableForgetAll(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 1000, Timeout: time.Hour})
	if n, _ := tab.ForgetAll(); n != 0 {
		t.Errorf("ForgetAll() of an empty table = %d", n)
	}
	for i := range 50 {
		tab.Bind("id-"+strconv.Itoa(i), "u")
	}
	if n, _ := tab.ForgetAll(); n != 50 {
		t.Errorf("ForgetAll() = %d, want 50", n)
	}
	if n := tab.Len(); n != 0 {
		t.Errorf("Len() after ForgetAll = %d", n)
	}
	for i := range 50 {
		if _, ok := tab.Lookup("id-" + strconv.Itoa(i)); ok {
			t.Fatalf("id-%d still bound after ForgetAll", i)
		}
	}
	if got, _ := tab.Bind("id-0", "v"); got != "v" {
		t.Errorf("Bind after ForgetAll = %q, want v", got)
	}
}

func TestTableGet(t *testing.T) {
	const timeout = time.Minute
	for _, expiry := range []Expiry{ExpirySliding, ExpiryFixed} {
		t.Run(string(expiry), func(t *testing.T) {
			tab := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: timeout, Expiry: expiry})
			if _, ok := tab.Get("s"); ok {
				t.Fatal("Get of an unknown id found it")
			}
			before := time.Now()
			tab.Bind("s", "a:1")
			after := time.Now()
			si, ok := tab.Get("s")
			if !ok {
				t.Fatal("Get after Bind: not found")
			}
			if si.ID != "s" || si.Upstream != "a:1" {
				t.Errorf("Get = %+v, want ID s, Upstream a:1", si)
			}
			if si.Created.Before(before.Truncate(time.Microsecond)) || si.Created.After(after) {
				t.Errorf("Created = %v, not within [%v, %v]", si.Created, before, after)
			}
			if !si.LastUsed.Equal(si.Created) {
				t.Errorf("LastUsed = %v, want Created %v for a fresh session", si.LastUsed, si.Created)
			}
			if si.Requests != 1 {
				t.Errorf("Requests = %d after Bind, want 1", si.Requests)
			}
			if d := si.Expires.Sub(si.Created); d < timeout-time.Second || d > timeout+time.Second {
				t.Errorf("Expires - Created = %s, want about %s", d, timeout)
			}

			// Get is quiet: it counts no use.
			for range 5 {
				tab.Get("s")
			}
			if si, _ := tab.Get("s"); si.Requests != 1 {
				t.Errorf("Requests = %d after only Gets, want 1", si.Requests)
			}

			time.Sleep(2 * time.Millisecond)
			tab.Lookup("s")
			tab.Lookup("s")
			si2, _ := tab.Get("s")
			if si2.Requests != 3 {
				t.Errorf("Requests = %d after Bind and two Lookups, want 3", si2.Requests)
			}
			if !si2.LastUsed.After(si2.Created) {
				t.Errorf("LastUsed %v not after Created %v after a Lookup", si2.LastUsed, si2.Created)
			}
			if !si2.Created.Equal(si.Created) {
				t.Errorf("Lookup changed Created")
			}
			if si2.Expires.Before(si2.LastUsed) {
				t.Errorf("Expires %v before LastUsed %v", si2.Expires, si2.LastUsed)
			}
			if expiry == ExpiryFixed && !si2.Expires.Equal(si.Expires) {
				t.Errorf("fixed: Lookup moved Expires from %v to %v", si.Expires, si2.Expires)
			}
		})
	}
}

func TestTableAll(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10000, Timeout: time.Hour})
	want := map[string]string{}
	for i := range 500 {
		id, up := "id-"+strconv.Itoa(i), "u-"+strconv.Itoa(i%7)
		tab.Bind(id, up)
		want[id] = up
	}
	got := map[string]string{}
	for si := range tab.All() {
		if _, dup := got[si.ID]; dup {
			t.Errorf("All yielded %q twice", si.ID)
		}
		got[si.ID] = si.Upstream
		if si.Requests != 1 || si.Created.IsZero() || si.Expires.Before(si.Created) {
			t.Errorf("All yielded an odd snapshot: %+v", si)
		}
	}
	if len(got) != len(want) {
		t.Errorf("All yielded %d sessions, want %d", len(got), len(want))
	}
	for id, up := range want {
		if got[id] != up {
			t.Errorf("All: %s -> %q, want %q", id, got[id], up)
		}
	}

	// Stopping early is honoured.
	n := 0
	for range tab.All() {
		n++
		if n == 10 {
			break
		}
	}
	if n != 10 {
		t.Errorf("early break: iterated %d", n)
	}

	// All does not count as a use.
	if si, _ := tab.Get("id-1"); si.Requests != 1 {
		t.Errorf("Requests = %d after All, want 1", si.Requests)
	}
}

func TestTableLookupHitDoesNotAllocate(t *testing.T) {
	for _, expiry := range []Expiry{ExpirySliding, ExpiryFixed} {
		tab := newTestTable(t, TableConfig{MaxSessions: 1000, Timeout: time.Hour, Expiry: expiry})
		tab.Bind("session-1", "a:1")
		if allocs := testing.AllocsPerRun(1000, func() {
			if _, ok := tab.Lookup("session-1"); !ok {
				panic("miss")
			}
		}); allocs != 0 {
			t.Errorf("%s: Lookup hit allocates %v times, want 0", expiry, allocs)
		}
		if allocs := testing.AllocsPerRun(1000, func() { tab.Lookup("absent") }); allocs != 0 {
			t.Errorf("%s: Lookup miss allocates %v times, want 0", expiry, allocs)
		}
	}
}

func TestTableConcurrentUse(t *testing.T) {
	// Exercises every operation at once for the race detector.
	tab := newTestTable(t, TableConfig{MaxSessions: 500, Timeout: time.Second})
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := "id-" + strconv.Itoa(i%1000)
				up := "u-" + strconv.Itoa(g%3)
				switch i % 7 {
				case 0:
					tab.Rebind(id, up, "u-"+strconv.Itoa((g+1)%3))
				case 1:
					tab.Get(id)
				case 2:
					_, _ = tab.Forget(id)
				default:
					if _, ok := tab.Lookup(id); !ok {
						tab.Bind(id, up)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			for range tab.All() {
			}
			_, _ = tab.ForgetUpstream("u-0")
			tab.CleanUp()
			tab.Len()
		}
	})
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	tab.CleanUp()
	if n := tab.Len(); n > 500 {
		t.Errorf("Len() = %d > 500", n)
	}
}
