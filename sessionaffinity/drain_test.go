package sessionaffinity

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// drainingFallback is a fallback policy that prefers the upstream want and
// otherwise takes the first available one, skipping the upstreams drains
// names, as the glue's fallback does with the pool it is shown.
func drainingFallback(t *testing.T, pool Pool, want string, expectDrains bool) func(DrainReader) int {
	return func(drains DrainReader) int {
		if (drains != nil) != expectDrains {
			t.Errorf("placement shown drains %v, want %v", drains != nil, expectDrains)
		}
		ok := func(i int) bool {
			return i >= 0 && pool.Available(i) && (drains == nil || !drains.Draining(pool.Key(i)))
		}
		if i := pool.index(want); ok(i) {
			return i
		}
		for i := range pool.Len {
			if ok(i) {
				return i
			}
		}
		return -1
	}
}

// tableWithDrains is a test table that binds session id to bound (unless
// "") and drains that name the space-separated upstreams of draining.
func tableWithDrains(t *testing.T, id, bound, draining string) (*Table, *MemoryDrains) {
	t.Helper()
	table := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Hour})
	if bound != "" {
		table.Bind(id, bound)
	}
	drains := new(MemoryDrains)
	set := map[string]time.Time{}
	for _, u := range strings.Fields(draining) {
		set[u] = time.Time{}
	}
	drains.Replace(set)
	return table, drains
}

func TestRouterDrain(t *testing.T) {
	const session = "client-1"
	tests := []struct {
		name                 string
		pool, down, draining string
		bound, failed, place string
		noID                 bool
		want                 string
		wantOutcome          Outcome
	}{
		{name: "no_session_avoids_draining", noID: true, pool: "a b c", draining: "a", place: "a",
			want: "b", wantOutcome: NoSession},
		{name: "new_session_avoids_draining", pool: "a b c", draining: "a b", place: "a",
			want: "c", wantOutcome: Bound},
		{name: "session_stays_on_draining", pool: "a b c", draining: "b", bound: "b", place: "a",
			want: "b", wantOutcome: Followed},
		{name: "failover_avoids_draining", pool: "a b c", down: "b", draining: "a", bound: "b", place: "a",
			want: "c", wantOutcome: Rebound},
		{name: "retry_avoids_failed_and_draining", pool: "a b c", draining: "c", bound: "b", failed: "b", place: "b",
			want: "a", wantOutcome: Rebound},
		{name: "only_draining_left", pool: "a b", down: "b", draining: "a", place: "a",
			wantOutcome: Unplaced},
		{name: "draining_unknown_upstream", pool: "a b", draining: "x", place: "a",
			want: "a", wantOutcome: Bound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, drains := tableWithDrains(t, session, tc.bound, tc.draining)
			router := newTestRouter(t, table, RouterConfig{Drains: drains})
			pool := testPool(tc.pool, tc.down)
			id := session
			if tc.noID {
				id = ""
			}
			d := router.Route(id, Attempt{Pool: pool, Failed: tc.failed, Place: drainingFallback(t, pool, tc.place, true)})
			got := ""
			if d.Upstream >= 0 {
				got = pool.Key(d.Upstream)
			}
			if got != tc.want || d.Outcome != tc.wantOutcome {
				t.Errorf("Route = %q, outcome %d; want %q, %d", got, d.Outcome, tc.want, tc.wantOutcome)
			}
		})
	}
}

func TestMemoryDrains(t *testing.T) {
	var d MemoryDrains
	if d.Any() || d.Draining("a") || len(d.Snapshot()) != 0 {
		t.Fatal("zero MemoryDrains is not empty")
	}
	set := func(u string, on bool, deadline time.Time) bool {
		changed, err := d.Set(u, on, deadline)
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}
	none := time.Time{}
	if !set("a", true, none) || set("a", true, none) || !set("b", true, none) {
		t.Error("Set(on) reports changes wrongly")
	}
	if !d.Any() || !d.Draining("a") || fmt.Sprint(slices.Sorted(maps.Keys(d.Snapshot()))) != "[a b]" {
		t.Errorf("after two drains: any %v, %v", d.Any(), d.Snapshot())
	}
	if !set("a", false, none) || set("a", false, none) || d.Draining("a") {
		t.Error("Set(off) reports changes wrongly")
	}

	// A deadline is set, kept by a drain without one, and overdue once past.
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	if !set("b", true, soon) || set("b", true, soon) || set("b", true, none) || !d.Deadline("b").Equal(soon) {
		t.Errorf("deadline of b: %v, want %v, set once", d.Deadline("b"), soon)
	}
	if d.Overdue("b") || d.Overdue("c") {
		t.Error("overdue before the deadline, or without a drain")
	}
	if !set("b", true, past) || !d.Overdue("b") {
		t.Errorf("not overdue past its deadline %v", d.Deadline("b"))
	}
	if !set("b", false, none) || d.Overdue("b") || !d.Deadline("b").IsZero() {
		t.Error("an ended drain is still overdue or keeps its deadline")
	}

	d.Replace(map[string]time.Time{"x": none, "y": past, "z": none})
	if got, _ := d.Retain(func(u string) bool { return u == "y" }); fmt.Sprint(got) != "[x z]" {
		t.Errorf("Retain forgot %v, want [x z]", got)
	}
	if got := d.Snapshot(); len(got) != 1 || !got["y"].Equal(past) {
		t.Errorf("after Retain: %v, want y with its deadline", got)
	}
}

// When a drain's deadline passes, a session still on its upstream is placed
// anew on its next request, with its own reason, strict or not; with nowhere
// else to go it stays.
func TestRouterDrainDeadline(t *testing.T) {
	const session = "client-1"
	for _, strict := range []bool{false, true} {
		table, drains := tableWithDrains(t, session, "b", "")
		router := newTestRouter(t, table, RouterConfig{Drains: drains, Strict: strict})
		pool := testPool("a b", "")
		attempt := Attempt{Pool: pool, Place: drainingFallback(t, pool, "a", true)}
		_, _ = drains.Set("b", true, time.Now().Add(time.Hour))
		if d := router.Route(session, attempt); d.Outcome != Followed || pool.Key(d.Upstream) != "b" {
			t.Errorf("strict %v, before the deadline: %+v, want followed to b", strict, d)
		}
		_, _ = drains.Set("b", true, time.Now().Add(-time.Millisecond))
		d := router.Route(session, attempt)
		if d.Outcome != Rebound || d.Reason != DrainDeadline || d.From != "b" || pool.Key(d.Upstream) != "a" {
			t.Errorf("strict %v, past the deadline: %+v, want rebound from b to a for %s", strict, d, DrainDeadline)
		}
		if up, _ := table.Lookup(session); up != "a" {
			t.Errorf("strict %v: bound to %s after the deadline, want a", strict, up)
		}
	}

	table, drains := tableWithDrains(t, session, "b", "")
	_, _ = drains.Set("b", true, time.Now().Add(-time.Millisecond))
	router := newTestRouter(t, table, RouterConfig{Drains: drains})
	pool := testPool("a b", "a")
	d := router.Route(session, Attempt{Pool: pool, Place: drainingFallback(t, pool, "a", true)})
	if d.Outcome != Followed || pool.Key(d.Upstream) != "b" {
		t.Errorf("past the deadline with the other upstream down: %+v, want followed to b", d)
	}
}

// least_sessions fills the emptiest available, non-draining upstream, and
// takes ties in turn.
func TestRouterLeastSessions(t *testing.T) {
	table := newTestTable(t, TableConfig{MaxSessions: 10_000, Timeout: time.Hour})
	for i := range 100 {
		table.Bind(fmt.Sprintf("pre-%d", i), "a")
	}
	var drains MemoryDrains
	router := newTestRouter(t, table, RouterConfig{Placement: PlaceLeastSessions, Counts: table, Drains: &drains})
	pool := testPool("a b c", "")
	noFallback := func(DrainReader) int { t.Fatal("least_sessions asked the fallback"); return -1 }
	for i := range 300 {
		router.Route(fmt.Sprintf("new-%d", i), Attempt{Pool: pool, Place: noFallback})
	}
	counts := countsOf(table)
	if counts["a"] != 133 && counts["a"] != 134 || counts["b"] < 133 || counts["b"] > 134 || counts["c"] < 133 || counts["c"] > 134 {
		t.Errorf("after 100 on a and 300 new sessions: %v, want each within ±1 of 133⅓", counts)
	}

	// Ties go round robin: requests without a session alternate.
	seen := map[string]int{}
	for range 30 {
		d := router.Route("", Attempt{Pool: pool, Place: noFallback})
		seen[pool.Key(d.Upstream)]++
	}
	if len(seen) < 2 {
		t.Errorf("ties all went to %v", seen)
	}

	// Neither draining nor unavailable upstreams, nor the one that failed.
	_, _ = drains.Set("b", true, time.Time{})
	down := testPool("a b c", "c")
	for range 20 {
		if d := router.Route("", Attempt{Pool: down, Place: noFallback}); down.Key(d.Upstream) != "a" {
			t.Fatalf("with b draining and c down, placed on %s", down.Key(d.Upstream))
		}
	}
	d := router.Route("retry", Attempt{Pool: pool, Failed: "a", Place: noFallback})
	if got := pool.Key(d.Upstream); got != "c" {
		t.Errorf("retry after a failed, b draining: placed on %s, want c", got)
	}
	if d := router.Route("", Attempt{Pool: testPool("a b c", "a c"), Place: noFallback}); d.Upstream != -1 {
		t.Errorf("only a draining upstream available: placed on %d, want none", d.Upstream)
	}

	if _, err := NewRouter(table, RouterConfig{Placement: PlaceLeastSessions}); err == nil {
		t.Error("least_sessions without counts: no error")
	}
	if _, err := NewRouter(table, RouterConfig{Placement: "most_sessions"}); err == nil || !strings.Contains(err.Error(), "most_sessions") {
		t.Errorf("unknown placement: error %v, want one naming it", err)
	}
}
