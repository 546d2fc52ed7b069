package sessionaffinity

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
)

// Pool is the upstreams one request may go to, as the router sees them: Len
// upstreams; upstream i is known by Key(i), a stable key such as its dial
// address, and can take a request now when Available(i). The glue backs it
// with closures over its own pool, so that no proxy type enters the domain and
// routing allocates nothing (an interface value would escape to the heap).
type Pool struct {
	Len       int
	Key       func(i int) string
	Available func(i int) bool
}

// index returns the index of the upstream whose key is key, or -1.
func (p Pool) index(key string) int {
	for i := range p.Len {
		if p.Key(i) == key {
			return i
		}
	}
	return -1
}

// usable reports whether upstream i exists, is not the one to avoid and can
// take a request now.
func (p Pool) usable(i int, avoid string) bool {
	return i >= 0 && (avoid == "" || p.Key(i) != avoid) && p.Available(i)
}

// Attempt is one attempt of a request (Caddy calls its selection policy again
// for each retry), as the router needs it besides the session id.
type Attempt struct {
	// Pool is the upstreams of this attempt.
	Pool Pool
	// Failed is the key of the upstream this request's previous attempt went
	// to, which failed; "" on the first attempt.
	Failed string
	// Place asks the fallback policy for an upstream for a new session or a
	// request without one: an index into Pool, or -1 for none. When drains is
	// not nil, the fallback must choose among the upstreams that it does not
	// name as draining. It is a closure the glue makes over its own pool and
	// request, like Pool's functions; the router calls it only when the
	// attempt needs a placement.
	Place func(drains DrainReader) int
}

// Outcome is what the router did with an attempt.
type Outcome uint8

const (
	// NoSession: the request names no session; the placement policy chose.
	NoSession Outcome = iota
	// Followed: the session's upstream takes the attempt.
	Followed
	// Bound: a new session, bound to the upstream the placement chose.
	Bound
	// JoinedBind: a concurrent request of the new session bound it first
	// (maybe to the upstream this attempt's placement chose too); the attempt
	// follows it there. The binding is that request's, not this one's.
	JoinedBind
	// LostBind: a concurrent request bound the new session first, to an
	// upstream this attempt cannot use; the attempt goes where the placement
	// chose and the binding stays as the other request made it.
	LostBind
	// Rebound: the session moved (for Reason) from its upstream to the one the
	// placement chose.
	Rebound
	// JoinedRebind: a concurrent request of the session moved it first (maybe
	// to the upstream this attempt's placement chose too); the attempt
	// follows it there. The move is that request's rebind, not this one's.
	JoinedRebind
	// LostRebind: a concurrent request moved the session first, to an upstream
	// this attempt cannot use; the attempt goes where the placement chose and
	// the binding stays as the other request made it.
	LostRebind
	// Refused: the session's upstream cannot take the attempt (Reason) and the
	// router is strict, so there is no upstream.
	Refused
	// Unplaced: the attempt needed a placement and the placement policy found
	// no upstream.
	Unplaced
)

// Reason is why a session leaves its upstream.
type Reason uint8

const (
	// NoReason: the session stays where it is, or has no upstream yet.
	NoReason Reason = iota
	// UpstreamDown: the session's upstream is not available.
	UpstreamDown
	// RetryAfterFailure: this request's previous attempt failed on the
	// session's upstream.
	RetryAfterFailure
	// UpstreamRemoved: the session's upstream is no longer in the pool.
	UpstreamRemoved
	// DrainDeadline: the session's upstream drains and the drain's deadline
	// has passed.
	DrainDeadline
)

// Reasons lists the reasons a session moves, for counting them.
var Reasons = []Reason{UpstreamDown, RetryAfterFailure, UpstreamRemoved, DrainDeadline}

var reasonNames = [...]string{
	NoReason:          "",
	UpstreamDown:      "upstream_down",
	RetryAfterFailure: "retry_after_failure",
	UpstreamRemoved:   "upstream_removed",
	DrainDeadline:     "drain_deadline",
}

func (r Reason) String() string { return nameOf(reasonNames[:], r) }

// Decision is the router's answer for one attempt.
type Decision struct {
	// Upstream is the index into the attempt's Pool of the upstream to use,
	// or -1 for none.
	Upstream int
	// Outcome says what happened; Reason why the session left its upstream
	// (Rebound, JoinedRebind, LostRebind, Refused, and Unplaced on the way).
	Outcome Outcome
	Reason  Reason
	// From is the upstream key the session was bound to before this attempt,
	// when it had one.
	From string
}

// Router holds the routing rules of session affinity: a session follows its
// upstream; a new session is bound where the placement puts it (the first
// binder wins); a session whose upstream cannot take the attempt fails over
// and is rebound (compare-and-set, so that concurrent failovers agree), or,
// when strict, is refused. A draining upstream gets no new session and no
// request without one; the sessions bound to it stay. It is safe for
// concurrent use. When a drain's deadline passes, the sessions still bound to
// its upstream are placed anew on their next request.
type Router struct {
	store     Store
	strict    bool
	placement Placement
	drains    DrainReader
	counts    SessionCounter
	shared    SharedCounter // counts, if their being shared can lapse; nil else
	balance   float64       // PlaceHash's bounded-load factor
	turn      atomic.Uint32 // rotates least_sessions' ties
}

// RouterConfig configures a Router besides its store.
type RouterConfig struct {
	// Strict refuses a session whose upstream is down instead of failing it
	// over (Synapse's behaviour); a removed upstream still fails over.
	Strict bool
	// Placement says where new sessions go. Default: PlaceFallback.
	Placement Placement
	// Drains names the draining upstreams; nil: none ever drains.
	Drains DrainReader
	// Counts gives the live sessions per upstream; PlaceLeastSessions and
	// PlaceHash need it.
	Counts SessionCounter
	// HashBalanceFactor is PlaceHash's bounded-load factor, above 1 (0: the
	// default, DefaultHashBalanceFactor); other placements take none.
	HashBalanceFactor float64
}

// NewRouter makes a router that keeps its bindings in store.
func NewRouter(store Store, cfg RouterConfig) (*Router, error) {
	if cfg.Placement == "" {
		cfg.Placement = PlaceFallback
	}
	if err := cfg.checkPlacement(); err != nil {
		return nil, err
	}
	if cfg.HashBalanceFactor == 0 {
		cfg.HashBalanceFactor = DefaultHashBalanceFactor
	}
	r := &Router{store: store, strict: cfg.Strict, placement: cfg.Placement, drains: cfg.Drains, counts: cfg.Counts,
		balance: cfg.HashBalanceFactor}
	r.shared, _ = cfg.Counts.(SharedCounter)
	return r, nil
}

// checkPlacement checks the placement and what it needs.
func (cfg RouterConfig) checkPlacement() error {
	switch cfg.Placement {
	case PlaceFallback, PlaceLeastSessions, PlaceHash:
	default:
		return fmt.Errorf("unknown placement %q (want %q, %q or %q)", cfg.Placement, PlaceFallback, PlaceLeastSessions, PlaceHash)
	}
	if cfg.Placement != PlaceFallback && cfg.Counts == nil {
		return fmt.Errorf("placement %s needs session counts", cfg.Placement)
	}
	switch f := cfg.HashBalanceFactor; {
	case f == 0:
	case cfg.Placement != PlaceHash:
		return fmt.Errorf("hash_balance_factor %g is for placement %s only, not %s", f, PlaceHash, cfg.Placement)
	case !(f > 1) || math.IsInf(f, 1):
		return fmt.Errorf("invalid hash_balance_factor %g: %w", f, ErrHashBalanceFactor)
	}
	return nil
}

// ErrHashBalanceFactor says what a bounded-load factor must be.
var ErrHashBalanceFactor = errors.New("want a number above 1, such as 1.25")

// Route decides where one attempt of a request that names session id ("" for
// none) goes. The id is a parameter of its own, not a field of the Attempt,
// because it is stored: as a field it would drag the Attempt's closures to the
// heap with it.
func (r *Router) Route(id string, a Attempt) Decision {
	if id == "" {
		return Decision{Upstream: r.place("", a, ""), Outcome: NoSession}
	}
	bound, found := r.store.Lookup(id)
	if !found {
		return r.bind(id, a)
	}
	current := a.Pool.index(bound)
	d := Decision{Upstream: current, Outcome: Followed, From: bound}
	switch {
	case current < 0:
		d.Reason = UpstreamRemoved
	case a.Failed != "" && bound == a.Failed:
		d.Reason = RetryAfterFailure
	case !a.Pool.Available(current):
		d.Reason = UpstreamDown
	case r.drains != nil && r.drains.Overdue(bound):
		// The operator's deadline moves the session even when strict; with
		// no other upstream to take it, it stays rather than fail.
		if moved := r.rebind(id, a, Decision{Upstream: current, Reason: DrainDeadline, From: bound}); moved.Upstream >= 0 {
			return moved
		}
		return d
	default:
		return d
	}
	if r.strict && d.Reason != UpstreamRemoved {
		d.Upstream, d.Outcome = -1, Refused
		return d
	}
	return r.rebind(id, a, d)
}

// bind places a new session and binds it, or follows a concurrent request of
// the same session that bound it first.
func (r *Router) bind(id string, a Attempt) Decision {
	placed := r.place(id, a, a.Failed)
	if placed < 0 {
		return Decision{Upstream: -1, Outcome: Unplaced}
	}
	key := a.Pool.Key(placed)
	winner, made := r.store.Bind(id, key)
	if made {
		return Decision{Upstream: placed, Outcome: Bound}
	}
	if i := a.Pool.index(winner); a.Pool.usable(i, a.Failed) {
		return Decision{Upstream: i, Outcome: JoinedBind}
	}
	return Decision{Upstream: placed, Outcome: LostBind}
}

// rebind moves the session of d off its upstream to a new placement, or
// follows a concurrent request of the same session that moved it first.
func (r *Router) rebind(id string, a Attempt, d Decision) Decision {
	avoid := ""
	if d.Upstream >= 0 {
		avoid = d.From
	}
	placed := r.place(id, a, avoid)
	if placed < 0 {
		d.Upstream, d.Outcome = -1, Unplaced
		return d
	}
	key := a.Pool.Key(placed)
	now, moved := r.store.Rebind(id, d.From, key)
	if moved {
		d.Upstream, d.Outcome = placed, Rebound
		return d
	}
	if i := a.Pool.index(now); a.Pool.usable(i, a.Failed) {
		d.Upstream, d.Outcome = i, JoinedRebind
		return d
	}
	d.Upstream, d.Outcome = placed, LostRebind
	return d
}
