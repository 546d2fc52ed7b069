package sessionaffinity

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// racingStore is a table that another request of the same session changes
// between the router's Lookup and its Bind or Rebind: after each Lookup the
// session is bound to raced (when set), as a concurrent failover would do.
type racingStore struct {
	*Table
	raced string
}

func (s racingStore) Lookup(id string) (string, bool) {
	upstream, found := s.Table.Lookup(id)
	if s.raced != "" {
		_, _ = s.Table.Forget(id)
		s.Table.Bind(id, s.raced)
	}
	return upstream, found
}

// testPool is a pool of the upstreams named in keys (space-separated), those
// in down unavailable.
func testPool(keys, down string) Pool {
	ks, downs := strings.Fields(keys), strings.Fields(down)
	return Pool{
		Len:       len(ks),
		Key:       func(i int) string { return ks[i] },
		Available: func(i int) bool { return !slices.Contains(downs, ks[i]) },
	}
}

func TestRouter(t *testing.T) {
	const session = "client-1"
	tests := []struct {
		name   string
		strict bool
		// The pool, space-separated keys, and those of them that are down.
		pool, down string
		// The session's binding before the attempt ("": none), and the one a
		// concurrent request makes right after the router looked it up.
		bound, raced string
		// The key of the upstream the previous attempt failed on.
		failed string
		// The key the placement policy answers ("": none).
		place string
		// noID sends the attempt without a session id.
		noID bool

		want        string // key of the chosen upstream; "": none
		wantOutcome Outcome
		wantReason  Reason
		wantBound   string // the binding afterwards; "": none
	}{
		// Requests without a session: the placement decides, nothing is bound.
		{name: "no_session", noID: true, pool: "a b", place: "b",
			want: "b", wantOutcome: NoSession},
		{name: "no_session_none_placed", noID: true, pool: "a b", down: "a b",
			wantOutcome: NoSession},

		// A new session: bound where the placement puts it.
		{name: "bind", pool: "a b c", place: "b",
			want: "b", wantOutcome: Bound, wantBound: "b"},
		{name: "bind_none_placed", pool: "a b", down: "a b",
			wantOutcome: Unplaced},
		{name: "bind_retry_avoids_failed", pool: "a b c", down: "b", failed: "a", place: "a",
			want: "c", wantOutcome: Bound, wantBound: "c"},
		{name: "bind_retry_only_failed_left", pool: "a b", down: "b", failed: "a", place: "a",
			want: "a", wantOutcome: Bound, wantBound: "a"},
		// ... unless a concurrent request of the session bound it first.
		{name: "bind_joins_first_binder", pool: "a b c", raced: "c", place: "a",
			want: "c", wantOutcome: JoinedBind, wantBound: "c"},
		// The concurrent request bound it where this attempt's placement puts
		// it too (placement hash on two nodes): the attempt follows that
		// binding; it is not a second one.
		{name: "bind_joins_first_binder_same_placement", pool: "a b c", raced: "a", place: "a",
			want: "a", wantOutcome: JoinedBind, wantBound: "a"},
		{name: "bind_first_binder_on_failed", pool: "a b c", raced: "c", failed: "c", place: "a",
			want: "a", wantOutcome: LostBind, wantBound: "c"},
		{name: "bind_first_binder_down", pool: "a b c", down: "c", raced: "c", place: "a",
			want: "a", wantOutcome: LostBind, wantBound: "c"},
		{name: "bind_first_binder_not_in_pool", pool: "a b", raced: "x", place: "a",
			want: "a", wantOutcome: LostBind, wantBound: "x"},

		// A bound session follows its upstream, and never flaps back.
		{name: "follow", pool: "a b c", bound: "b", place: "a",
			want: "b", wantOutcome: Followed, wantBound: "b"},
		{name: "follow_after_other_failed", pool: "a b c", bound: "b", failed: "a", place: "a",
			want: "b", wantOutcome: Followed, wantBound: "b"},

		// Its upstream cannot take the attempt: fail over and rebind.
		{name: "failover_down", pool: "a b c", down: "b", bound: "b", place: "c",
			want: "c", wantOutcome: Rebound, wantReason: UpstreamDown, wantBound: "c"},
		{name: "failover_retry", pool: "a b c", bound: "b", failed: "b", place: "a",
			want: "a", wantOutcome: Rebound, wantReason: RetryAfterFailure, wantBound: "a"},
		{name: "failover_retry_placement_avoided", pool: "a b c", down: "a", bound: "b", failed: "b", place: "b",
			want: "c", wantOutcome: Rebound, wantReason: RetryAfterFailure, wantBound: "c"},
		{name: "failover_retry_only_failed_left", pool: "a b", down: "a", bound: "b", failed: "b", place: "b",
			want: "b", wantOutcome: Rebound, wantReason: RetryAfterFailure, wantBound: "b"},
		{name: "failover_removed", pool: "a b", bound: "x", place: "a",
			want: "a", wantOutcome: Rebound, wantReason: UpstreamRemoved, wantBound: "a"},
		{name: "failover_none_placed", pool: "a b", down: "a b", bound: "b",
			wantOutcome: Unplaced, wantReason: UpstreamDown, wantBound: "b"},
		// ... unless a concurrent request of the session moved it first.
		{name: "failover_joins_first_rebinder", pool: "a b c", down: "b", bound: "b", raced: "c", place: "a",
			want: "c", wantOutcome: JoinedRebind, wantReason: UpstreamDown, wantBound: "c"},
		// The concurrent request moved it where this attempt's placement
		// puts it too (placement hash on two nodes): the attempt follows
		// that move; it is not a second rebind.
		{name: "failover_joins_first_rebinder_same_placement", pool: "a b c", down: "b", bound: "b", raced: "a", place: "a",
			want: "a", wantOutcome: JoinedRebind, wantReason: UpstreamDown, wantBound: "a"},
		{name: "failover_first_rebinder_on_failed", pool: "a b c", down: "b", bound: "b", raced: "c", failed: "c", place: "a",
			want: "a", wantOutcome: LostRebind, wantReason: UpstreamDown, wantBound: "c"},
		{name: "failover_first_rebinder_down", pool: "a b c", down: "b c", bound: "b", raced: "c", place: "a",
			want: "a", wantOutcome: LostRebind, wantReason: UpstreamDown, wantBound: "c"},

		// Strict: refuse instead of failing over, but not for a removed upstream.
		{name: "strict_follow", strict: true, pool: "a b", bound: "b", place: "a",
			want: "b", wantOutcome: Followed, wantBound: "b"},
		{name: "strict_down", strict: true, pool: "a b", down: "b", bound: "b", place: "a",
			wantOutcome: Refused, wantReason: UpstreamDown, wantBound: "b"},
		{name: "strict_retry", strict: true, pool: "a b", bound: "b", failed: "b", place: "a",
			wantOutcome: Refused, wantReason: RetryAfterFailure, wantBound: "b"},
		{name: "strict_removed", strict: true, pool: "a b", bound: "x", place: "a",
			want: "a", wantOutcome: Rebound, wantReason: UpstreamRemoved, wantBound: "a"},
		{name: "strict_bind", strict: true, pool: "a b", place: "b",
			want: "b", wantOutcome: Bound, wantBound: "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Hour})
			if tc.bound != "" {
				table.Bind(session, tc.bound)
			}
			router := newTestRouter(t, racingStore{Table: table, raced: tc.raced}, RouterConfig{Strict: tc.strict})
			pool := testPool(tc.pool, tc.down)
			placements := 0
			id := session
			if tc.noID {
				id = ""
			}

			d := router.Route(id, Attempt{Pool: pool, Failed: tc.failed, Place: func(drains DrainReader) int {
				placements++
				if drains != nil {
					t.Errorf("placement told to skip upstreams while none drains")
				}
				return pool.index(tc.place)
			}})

			got := ""
			if d.Upstream >= 0 {
				got = pool.Key(d.Upstream)
			}
			if got != tc.want || d.Outcome != tc.wantOutcome || d.Reason != tc.wantReason {
				t.Errorf("Route = upstream %q, outcome %d, reason %q; want %q, %d, %q",
					got, d.Outcome, d.Reason, tc.want, tc.wantOutcome, tc.wantReason)
			}
			if d.From != tc.bound {
				t.Errorf("Decision.From = %q, want the binding before, %q", d.From, tc.bound)
			}
			if bound, _ := table.Lookup(session); bound != tc.wantBound {
				t.Errorf("bound afterwards to %q, want %q", bound, tc.wantBound)
			}
			// The placement policy is asked once, and only when a placement
			// is needed: a round robin must not advance for a session that
			// stays where it is.
			wantPlacements := 1
			if d.Outcome == Followed || d.Outcome == Refused {
				wantPlacements = 0
			}
			if placements != wantPlacements {
				t.Errorf("placement asked %d times, want %d", placements, wantPlacements)
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	// The names are the values of the rebinds_total metric's reason label.
	want := []string{"upstream_down", "retry_after_failure", "upstream_removed", "drain_deadline"}
	var got []string
	for _, r := range Reasons {
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Reasons = %q, want %q", got, want)
	}
	if s := Reason(200).String(); s != "unknown" {
		t.Errorf("Reason(200) = %q, want unknown", s)
	}
}

// Routing a session that follows its upstream allocates nothing: the pool
// given as closures stays on the caller's stack.
func TestRouterFollowAllocatesNothing(t *testing.T) {
	table := newTestTable(t, TableConfig{MaxSessions: 100, Timeout: time.Hour})
	table.Bind("s", "b")
	router := newTestRouter(t, table, RouterConfig{})
	keys := []string{"a", "b", "c"}
	allocs := testing.AllocsPerRun(100, func() {
		d := router.Route("s", Attempt{Pool: Pool{
			Len:       len(keys),
			Key:       func(i int) string { return keys[i] },
			Available: func(int) bool { return true },
		}, Place: func(DrainReader) int { return 0 }})
		if d.Upstream != 1 {
			t.Fatalf("Route = %+v, want upstream 1", d)
		}
	})
	if allocs != 0 {
		t.Errorf("Route allocates %.0f times per call, want 0", allocs)
	}
}

func newTestRouter(t testing.TB, store Store, cfg RouterConfig) *Router {
	t.Helper()
	r, err := NewRouter(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
