package sessionaffinity

import (
	"math"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Placement says where the router puts a new session (and a request without
// one).
type Placement string

const (
	// PlaceFallback asks the fallback policy (round robin unless configured).
	PlaceFallback Placement = "fallback"
	// PlaceLeastSessions takes the available, non-draining upstream with the
	// fewest live sessions, ties taken in turn.
	PlaceLeastSessions Placement = "least_sessions"
	// PlaceHash puts a new session where every node puts it: on the first
	// upstream, in the rendezvous order of its id, whose live sessions are
	// under the bounded-load cap (see hashPlace). A request without a session
	// id is placed by the fallback policy.
	PlaceHash Placement = "hash"
)

// DefaultHashBalanceFactor is the bounded-load factor c of PlaceHash: no
// upstream gets a new session while it holds ceil(c*(sessions+1)/upstreams)
// or more, sessions being those of the upstreams it may go to.
const DefaultHashBalanceFactor = 1.25

// SessionCounter counts the live sessions bound to an upstream.
type SessionCounter interface {
	SessionsOn(upstream string) int
}

// SharedCounter is a SessionCounter of sessions that several nodes share,
// whose counts are the same on every node only while it can reach what they
// share (a shared store that answers). While CountsShared is false, each
// node counts its own traffic, so a cap on those counts would stop one node,
// not another, from giving a session its first upstream: placement hash
// then places by the rendezvous order alone, as every node does.
type SharedCounter interface {
	SessionCounter
	CountsShared() bool
}

// place finds an upstream for new session id or a request without one (id
// ""): never a draining one, and not the one with key avoid (the upstream
// that just failed) while another one is available.
func (r *Router) place(id string, a Attempt, avoid string) int {
	draining := r.drains != nil && r.drains.Any()
	switch {
	case r.placement == PlaceLeastSessions:
		placed := r.leastSessions(a, draining, avoid)
		if placed < 0 && avoid != "" {
			placed = r.leastSessions(a, draining, "")
		}
		return placed
	case r.placement == PlaceHash && id != "":
		placed := r.hashPlace(id, a, draining, avoid)
		if placed < 0 && avoid != "" {
			placed = r.hashPlace(id, a, draining, "")
		}
		return placed
	}
	var drains DrainReader
	if draining {
		drains = r.drains
	}
	placed := a.Place(drains)
	if placed < 0 || avoid == "" || a.Pool.Key(placed) != avoid {
		return placed
	}
	for i := range a.Pool.Len {
		if a.Pool.usable(i, avoid) && !(draining && r.drains.Draining(a.Pool.Key(i))) {
			return i
		}
	}
	return placed
}

// leastSessions returns the available, non-draining upstream other than
// avoid with the fewest live sessions, or -1. Each call starts looking one
// upstream further on, so that ties go round robin.
func (r *Router) leastSessions(a Attempt, draining bool, avoid string) int {
	if a.Pool.Len == 0 {
		return -1
	}
	start := int(r.turn.Add(1) % uint32(a.Pool.Len))
	best, fewest := -1, 0
	for j := range a.Pool.Len {
		i := (start + j) % a.Pool.Len
		if !a.Pool.usable(i, avoid) {
			continue
		}
		key := a.Pool.Key(i)
		if draining && r.drains.Draining(key) {
			continue
		}
		if n := r.counts.SessionsOn(key); best < 0 || n < fewest {
			best, fewest = i, n
		}
	}
	return best
}

// hashCounts is how many upstreams hashPlace counts on the stack; a larger
// pool costs it one allocation.
const hashCounts = 32

// hashPlace returns the first upstream, in the rendezvous order of id, among
// the available, non-draining ones other than avoid, whose live sessions are
// under the bounded-load cap ceil(c*(total+1)/n) (Mirrokni, Thorup and
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2016), n being
// those upstreams and total their sessions; if each is at the cap, the first
// in order; -1 if there is none. Counts that other nodes cannot see (see
// SharedCounter) set no cap. The order depends on the id and the keys
// only, not on the upstreams' positions in the pool, so every node with the
// same pool and loads places a session alike, and a session whose upstream
// fails goes to the next one in its order.
func (r *Router) hashPlace(id string, a Attempt, draining bool, avoid string) int {
	var stack [hashCounts]int
	counts := stack[:0]
	if a.Pool.Len > hashCounts {
		counts = make([]int, 0, a.Pool.Len)
	}
	n, total := 0, 0
	for i := range a.Pool.Len {
		count := -1 // not a candidate
		if a.Pool.usable(i, avoid) && !(draining && r.drains.Draining(a.Pool.Key(i))) {
			count = max(r.counts.SessionsOn(a.Pool.Key(i)), 0)
			n++
			total += count
		}
		counts = append(counts, count)
	}
	if n == 0 {
		return -1
	}
	limit := math.MaxInt
	if r.shared == nil || r.shared.CountsShared() {
		limit = int(math.Ceil(r.balance * float64(total+1) / float64(n)))
	}
	seed := xxhash.Sum64String(id)
	first, under := -1, -1
	var firstWeight, underWeight uint64
	var firstKey, underKey string
	for i, count := range counts {
		if count < 0 {
			continue
		}
		key := a.Pool.Key(i)
		w := rendezvousWeight(seed, key)
		if first < 0 || heavier(w, key, firstWeight, firstKey) {
			first, firstWeight, firstKey = i, w, key
		}
		if count < limit && (under < 0 || heavier(w, key, underWeight, underKey)) {
			under, underWeight, underKey = i, w, key
		}
	}
	if under >= 0 {
		return under
	}
	// Unreachable with c > 1 (n upstreams at the cap would hold at least
	// c*(total+1) > total sessions); kept so that a miscounting counter
	// still gets a placement.
	return first
}

// rendezvousWeight is the weight of the upstream with key for the session
// whose id hashes to seed: XXH64 of the key, seeded with XXH64 of the id
// (seed 0). XXH64 is specified and the same on every platform and in every
// process, unlike hash/maphash, so that every node computes the same order.
func rendezvousWeight(seed uint64, key string) uint64 {
	var d xxhash.Digest
	d.ResetWithSeed(seed)
	_, _ = d.WriteString(key)
	return d.Sum64()
}

// heavier reports whether weight w of key k comes before weight v of key l in
// the rendezvous order: the higher weight first, the lower key on a tie, so
// that the order never depends on positions.
func heavier(w uint64, k string, v uint64, l string) bool {
	return w > v || w == v && strings.Compare(k, l) < 0
}
