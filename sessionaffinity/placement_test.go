package sessionaffinity

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// fixedCounts is a SessionCounter with the counts it is given.
type fixedCounts map[string]int

func (c fixedCounts) SessionsOn(upstream string) int { return c[upstream] }

// unsharedCounts are counts of shared sessions while what they share cannot
// be reached: this node's alone.
type unsharedCounts struct{ fixedCounts }

func (unsharedCounts) CountsShared() bool { return false }

// hashOrder is the rendezvous order of id over keys, as the tests expect it.
func hashOrder(id string, keys []string) []string {
	return hashOrderOf(id, slices.Clone(keys))
}

func hashOrderOf(id string, keys []string) []string {
	seed := xxhash.Sum64String(id)
	slices.SortFunc(keys, func(k, l string) int {
		switch w, v := rendezvousWeight(seed, k), rendezvousWeight(seed, l); {
		case heavier(w, k, v, l):
			return -1
		case heavier(v, l, w, k):
			return 1
		}
		return 0
	})
	return keys
}

func noFallbackFor(t *testing.T) func(DrainReader) int {
	return func(DrainReader) int { t.Fatal("placement hash asked the fallback for a session"); return -1 }
}

func hashRouter(t testing.TB, store Store, counts SessionCounter, drains DrainReader) *Router {
	return newTestRouter(t, store, RouterConfig{Placement: PlaceHash, Counts: counts, Drains: drains})
}

// keys returns n dial addresses.
func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.0.%d:8080", i+1)
	}
	return out
}

// The order is XXH64's, which is specified: these answers hold on every
// node, platform and Go release, so nodes of different builds agree.
func TestHashOrderIsStable(t *testing.T) {
	pool := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}
	tests := []struct{ id, want string }{
		{"client-1", "10.0.0.1:8080 10.0.0.3:8080 10.0.0.2:8080"},
		{"client-2", "10.0.0.1:8080 10.0.0.3:8080 10.0.0.2:8080"},
		{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "10.0.0.2:8080 10.0.0.3:8080 10.0.0.1:8080"},
	}
	for _, tc := range tests {
		if got := strings.Join(hashOrder(tc.id, pool), " "); got != tc.want {
			t.Errorf("order of %q: %s, want %s", tc.id, got, tc.want)
		}
	}
}

// Same id, same pool and loads: same upstream, whatever the router (node),
// its store and the positions of the upstreams in the pool.
func TestHashPlacementDeterministic(t *testing.T) {
	ks := keys(5)
	reversed := slices.Clone(ks)
	slices.Reverse(reversed)
	nodeA := hashRouter(t, newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour}), fixedCounts{}, nil)
	nodeB := hashRouter(t, newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour}), fixedCounts{}, nil)
	poolA, poolB := testPool(strings.Join(ks, " "), ""), testPool(strings.Join(reversed, " "), "")
	for i := range 1000 {
		id := fmt.Sprintf("id-%d", i)
		a := nodeA.place(id, Attempt{Pool: poolA, Place: noFallbackFor(t)}, "")
		b := nodeB.place(id, Attempt{Pool: poolB, Place: noFallbackFor(t)}, "")
		if poolA.Key(a) != poolB.Key(b) {
			t.Fatalf("%s: node A placed it on %s, node B on %s", id, poolA.Key(a), poolB.Key(b))
		}
		if want := hashOrder(id, ks)[0]; poolA.Key(a) != want {
			t.Fatalf("%s: placed on %s, want the first in its order, %s", id, poolA.Key(a), want)
		}
	}
}

// 10,000 sessions spread within the cap; removing an upstream moves only the
// sessions it held (about 1/n of them), with no load to bound.
func TestHashPlacementDistribution(t *testing.T) {
	const sessions = 10_000
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ks := keys(n)
			table := newTestTable(t, TableConfig{MaxSessions: 100 * sessions, Timeout: time.Hour})
			router := hashRouter(t, table, table, nil)
			pool := testPool(strings.Join(ks, " "), "")
			for i := range sessions {
				if d := router.Route(fmt.Sprintf("id-%d", i), Attempt{Pool: pool, Place: noFallbackFor(t)}); d.Outcome != Bound {
					t.Fatalf("outcome %v, want Bound", d.Outcome)
				}
			}
			limit := int(math.Ceil(DefaultHashBalanceFactor * sessions / float64(n)))
			counts := countsOf(table)
			for _, k := range ks {
				if counts[k] > limit || counts[k] < sessions/n/2 {
					t.Errorf("%s holds %d of %d sessions, want at most the cap %d (and not under half its share)", k, counts[k], sessions, limit)
				}
			}
			t.Logf("%d upstreams: %v (cap %d)", n, counts, limit)

			unbounded := hashRouter(t, table, fixedCounts{}, nil)
			smaller := testPool(strings.Join(ks[1:], " "), "")
			moved := 0
			for i := range sessions {
				id := fmt.Sprintf("id-%d", i)
				before := pool.Key(unbounded.place(id, Attempt{Pool: pool}, ""))
				after := smaller.Key(unbounded.place(id, Attempt{Pool: smaller}, ""))
				if before == after {
					continue
				}
				if before != ks[0] {
					t.Fatalf("%s moved from %s to %s when %s left", id, before, after, ks[0])
				}
				moved++
			}
			if share := float64(moved) / sessions; math.Abs(share-1/float64(n)) > 0.3/float64(n) {
				t.Errorf("removing 1 of %d upstreams moved %.3f of the sessions, want about %.3f", n, share, 1/float64(n))
			}
		})
	}
}

// Sessions placed again after their store lost them (a flushed Redis, both
// nodes restarted), on another node: over 500 pools of three upstreams, 300
// sessions coming back in the order they came meet the loads they met and
// all go back to their upstream; coming back the other way round, the cap
// decides differently while the upstreams hold few sessions, and a few do
// not.
func TestHashPlacementAfterLoss(t *testing.T) {
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("flushed-%d", i)
	}
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	var backReversed []int
	for trial := range 500 {
		pool := testPool(fmt.Sprintf("127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d", 30000+3*trial, 30001+3*trial, 30002+3*trial), "")
		place := func(order []string) map[string]string {
			// Room for every session on trial (a fifth of the table).
			table := newTestTable(t, TableConfig{MaxSessions: 10 * len(ids), Timeout: time.Hour})
			router := hashRouter(t, table, table, nil)
			placed := map[string]string{}
			for _, id := range order {
				placed[id] = pool.Key(router.Route(id, Attempt{Pool: pool, Place: noFallbackFor(t)}).Upstream)
			}
			return placed
		}
		home := place(ids)
		back := func(placed map[string]string) int {
			n := 0
			for id, up := range placed {
				if home[id] == up {
					n++
				}
			}
			return n
		}
		if n := back(place(ids)); n != len(ids) {
			t.Fatalf("pool %d: %d of %d sessions went back in the same order, want all", trial, n, len(ids))
		}
		backReversed = append(backReversed, back(place(reversed)))
	}
	slices.Sort(backReversed)
	least, median := backReversed[0], backReversed[len(backReversed)/2]
	t.Logf("500 pools, 300 sessions back the other way round: %d to %d went back, median %d", least, backReversed[len(backReversed)-1], median)
	if median < 285 || least < 270 {
		t.Errorf("the other way round, %d (median) and %d (least) of 300 went back, want at least 285 and 270", median, least)
	}
}

// An upstream added to three that hold 3,000 sessions takes none of them,
// and the new sessions fill it first: while every old upstream holds at
// least the cap of four upstreams, each new session goes to the new one,
// and until the loads have met it gets more than its share.
func TestHashPlacementNewUpstreamFillsFirst(t *testing.T) {
	const bound = 3000
	ks := keys(4)
	table := newTestTable(t, TableConfig{MaxSessions: 100_000, Timeout: time.Hour})
	router := hashRouter(t, table, table, nil)
	three, four := testPool(strings.Join(ks[:3], " "), ""), testPool(strings.Join(ks, " "), "")
	home := map[string]string{}
	for i := range bound {
		id := fmt.Sprintf("id-%d", i)
		home[id] = three.Key(router.Route(id, Attempt{Pool: three, Place: noFallbackFor(t)}).Upstream)
	}
	for id, up := range home {
		if d := router.Route(id, Attempt{Pool: four, Place: noFallbackFor(t)}); d.Outcome != Followed || four.Key(d.Upstream) != up {
			t.Fatalf("%s bound to %s: with a fourth upstream it went to %s (%v)", id, up, four.Key(d.Upstream), d.Outcome)
		}
	}
	counts := countsOf(table)
	fewest := min(counts[ks[0]], counts[ks[1]], counts[ks[2]])
	filled := 0
	for total := bound; int(math.Ceil(DefaultHashBalanceFactor*float64(total+1)/4)) <= fewest; total++ {
		id := fmt.Sprintf("new-%d", total)
		if up := four.Key(router.Route(id, Attempt{Pool: four, Place: noFallbackFor(t)}).Upstream); up != ks[3] {
			t.Fatalf("new session %d went to %s while the old upstreams were at the cap: %v", filled, up, countsOf(table))
		}
		filled++
	}
	for i := range bound {
		router.Route(fmt.Sprintf("later-%d", i), Attempt{Pool: four, Place: noFallbackFor(t)})
	}
	counts = countsOf(table)
	if share := counts[ks[3]] - filled; share <= bound/4 || filled < 100 {
		t.Errorf("the new upstream took the first %d new sessions and %d of the next %d, want at least 100 and more than a quarter", filled, share, bound)
	}
	t.Logf("the first %d new sessions all went to the new upstream; after %d more: %v", filled, bound, counts)
}

// A new session skips unavailable and draining upstreams, and the cap; a
// failover takes the next upstream of the same order.
func TestHashPlacementOrder(t *testing.T) {
	const id = "client-1"
	ks := keys(4)
	order := hashOrder(id, ks)
	all := strings.Join(ks, " ")
	tests := []struct {
		name           string
		down, draining string
		counts         fixedCounts
		unshared       bool // counts are this node's alone
		bound, failed  string
		want           string
		wantOutcome    Outcome
	}{
		{name: "first_in_order", want: order[0], wantOutcome: Bound},
		{name: "unavailable_skipped", down: order[0], want: order[1], wantOutcome: Bound},
		{name: "draining_skipped", draining: order[0] + " " + order[1], want: order[2], wantOutcome: Bound},
		{name: "failed_skipped", failed: order[0], want: order[1], wantOutcome: Bound},
		{name: "failover_to_next", down: order[0], bound: order[0], want: order[1], wantOutcome: Rebound},
		{name: "retry_to_next", bound: order[0], failed: order[0], want: order[1], wantOutcome: Rebound},
		{name: "failover_from_second", down: order[1], bound: order[1], want: order[0], wantOutcome: Rebound},
		{name: "failover_skips_draining", down: order[0], draining: order[1], bound: order[0], want: order[2], wantOutcome: Rebound},
		{name: "only_failed_left", down: order[1] + " " + order[2] + " " + order[3], failed: order[0], want: order[0], wantOutcome: Bound},
		{name: "none_left", down: all, wantOutcome: Unplaced},
		// 4 upstreams, 11 sessions: cap ceil(1.25*12/4) = 4.
		{name: "at_cap_skipped", counts: fixedCounts{order[0]: 4, order[1]: 4, order[2]: 3}, want: order[2], wantOutcome: Bound},
		{name: "under_cap_kept", counts: fixedCounts{order[0]: 3, order[1]: 4, order[2]: 4}, want: order[0], wantOutcome: Bound},
		// Another node, counting other traffic, would not see the cap.
		{name: "unshared_counts_no_cap", counts: fixedCounts{order[0]: 4, order[1]: 4, order[2]: 3}, unshared: true, want: order[0], wantOutcome: Bound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, drains := tableWithDrains(t, id, tc.bound, tc.draining)
			var counts SessionCounter = tc.counts
			switch {
			case tc.unshared:
				counts = unsharedCounts{tc.counts}
			case tc.counts == nil:
				counts = fixedCounts{}
			}
			router := hashRouter(t, table, counts, drains)
			pool := testPool(all, tc.down)
			d := router.Route(id, Attempt{Pool: pool, Failed: tc.failed, Place: noFallbackFor(t)})
			got := ""
			if d.Upstream >= 0 {
				got = pool.Key(d.Upstream)
			}
			if got != tc.want || d.Outcome != tc.wantOutcome {
				t.Errorf("got %q (%v), want %q (%v); order %v", got, d.Outcome, tc.want, tc.wantOutcome, order)
			}
		})
	}
}

// A request without a session id has nothing to hash: the fallback places it.
func TestHashPlacementWithoutID(t *testing.T) {
	table := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour})
	router := hashRouter(t, table, table, nil)
	pool := testPool("a b c", "")
	asked := 0
	d := router.Route("", Attempt{Pool: pool, Place: func(DrainReader) int { asked++; return 2 }})
	if asked != 1 || d.Upstream != 2 || d.Outcome != NoSession {
		t.Errorf("fallback asked %d times, placed on %d (%v); want once, 2, NoSession", asked, d.Upstream, d.Outcome)
	}
}

func TestHashPlacementConfig(t *testing.T) {
	table := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour})
	tests := []struct {
		cfg     RouterConfig
		wantErr string // "" for none
	}{
		{RouterConfig{Placement: PlaceHash, Counts: table}, ""},
		{RouterConfig{Placement: PlaceHash, Counts: table, HashBalanceFactor: 1.01}, ""},
		{RouterConfig{Placement: PlaceHash}, "needs session counts"},
		{RouterConfig{Placement: PlaceHash, Counts: table, HashBalanceFactor: 1}, "invalid hash_balance_factor 1"},
		{RouterConfig{Placement: PlaceHash, Counts: table, HashBalanceFactor: -2}, "invalid hash_balance_factor -2"},
		{RouterConfig{Placement: PlaceHash, Counts: table, HashBalanceFactor: math.NaN()}, "invalid hash_balance_factor NaN"},
		{RouterConfig{Placement: PlaceHash, Counts: table, HashBalanceFactor: math.Inf(1)}, "invalid hash_balance_factor +Inf"},
		{RouterConfig{Placement: PlaceLeastSessions, Counts: table, HashBalanceFactor: 1.5}, "hash_balance_factor 1.5 is for placement hash only, not least_sessions"},
		{RouterConfig{HashBalanceFactor: 1.5}, "hash_balance_factor 1.5 is for placement hash only, not fallback"},
		{RouterConfig{Placement: "consistent"}, `unknown placement "consistent" (want "fallback", "least_sessions" or "hash")`},
	}
	for _, tc := range tests {
		_, err := NewRouter(table, tc.cfg)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("NewRouter(%+v): error %v, want %q", tc.cfg, err, tc.wantErr)
		}
	}
}

// BenchmarkPlacement places a new session by load (least_sessions) and by
// its id (hash), over upstreams holding sessions in a table, as the router
// does on a miss.
func BenchmarkPlacement(b *testing.B) {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("urn:uuid:6e8bc430-9c3a-11d9-9669-%012d", i)
	}
	for _, n := range []int{3, 10} {
		ks := keys(n)
		table := newTestTable(b, TableConfig{MaxSessions: 100_000, Timeout: time.Hour})
		for i := range 1000 {
			table.Bind(fmt.Sprintf("pre-%d", i), ks[i%n])
		}
		pool := testPool(strings.Join(ks, " "), "")
		for _, placement := range []Placement{PlaceLeastSessions, PlaceHash} {
			router := newTestRouter(b, table, RouterConfig{Placement: placement, Counts: table})
			b.Run(fmt.Sprintf("%s/%d", placement, n), func(b *testing.B) {
				b.ReportAllocs()
				a := Attempt{Pool: pool}
				i := 0
				for b.Loop() {
					if router.place(ids[i%len(ids)], a, "") < 0 {
						b.Fatal("no placement")
					}
					i++
				}
			})
		}
	}
}
