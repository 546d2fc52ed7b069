package sessionaffinity

// Placement says where the router puts a new session (and a request without
// one).
type Placement string

const (
	// PlaceFallback asks the fallback policy (round robin unless configured).
	PlaceFallback Placement = "fallback"
	// PlaceLeastSessions takes the available, non-draining upstream with the
	// fewest live sessions, ties taken in turn.
	PlaceLeastSessions Placement = "least_sessions"
)

// SessionCounter counts the live sessions bound to an upstream.
type SessionCounter interface {
	SessionsOn(upstream string) int
}

// place finds an upstream for a new session or a request without one: never
// a draining one, and not the one with key avoid (the upstream that just
// failed) while another one is available.
func (r *Router) place(a Attempt, avoid string) int {
	draining := r.drains != nil && r.drains.Any()
	if r.placement == PlaceLeastSessions {
		placed := r.leastSessions(a, draining, avoid)
		if placed < 0 && avoid != "" {
			placed = r.leastSessions(a, draining, "")
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
