package sessionaffinity

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DrainReader is the read side of a policy's drains, what the router and the
// fallback policy see: which upstreams are draining, and until when. A
// draining upstream takes no new session and no request without one, while
// the sessions bound to it stay until they expire, are forgotten, their
// upstream becomes unavailable, or the drain's deadline passes.
type DrainReader interface {
	// Any reports whether some upstream is draining, so that the router's
	// common case (none) costs one check.
	Any() bool
	// Draining reports whether upstream is draining.
	Draining(upstream string) bool
	// Overdue reports whether upstream is draining and its drain's deadline
	// has passed: its sessions are to be placed anew on their next request.
	Overdue(upstream string) bool
	// Deadline returns the deadline of upstream's drain; zero for none.
	Deadline(upstream string) time.Time
}

// Drains keeps a policy's drains, read and written: in this process
// (*MemoryDrains), or in Redis, where every node of the policy reads them
// (redisstore.Drains). The admin API starts and ends drains through it.
type Drains interface {
	DrainReader
	// Set starts (on) or ends (!on) the drain of upstream and reports whether
	// that changed anything. A drain started with a deadline (not zero) has
	// that deadline, one started without keeps the deadline it had, if any.
	// An error means the change may not have reached every node.
	Set(upstream string, on bool, deadline time.Time) (changed bool, err error)
	// Retain forgets the drains of upstreams for which keep is false (those
	// no longer configured) and returns them.
	Retain(keep func(upstream string) bool) (forgotten []string, err error)
}

// MemoryDrains is a set of draining upstreams, each with its deadline (zero
// for none), kept in this process's memory: a policy's Drains on one node,
// and the mirror of redisstore.Drains. Reads take no lock (the set is copied
// on write: drains change rarely, placements read them on every new session,
// and the router asks for a deadline on every request while some drain has
// one). The zero value is an empty set.
type MemoryDrains struct {
	mu  sync.Mutex // serialises writers
	set atomic.Pointer[drainSet]
}

// drainSet is the draining upstreams and their deadlines; immutable once
// published.
type drainSet struct {
	deadlines    map[string]time.Time
	withDeadline bool // some drain has a deadline
}

var _ Drains = (*MemoryDrains)(nil)

func (d *MemoryDrains) load() *drainSet {
	if s := d.set.Load(); s != nil {
		return s
	}
	return &drainSet{}
}

// Any reports whether some upstream is draining.
func (d *MemoryDrains) Any() bool { return len(d.load().deadlines) > 0 }

// Draining reports whether upstream is draining.
func (d *MemoryDrains) Draining(upstream string) bool {
	_, ok := d.load().deadlines[upstream]
	return ok
}

// Overdue reports whether upstream's drain has a deadline that has passed.
// While no drain has a deadline it costs a load and reads no clock.
func (d *MemoryDrains) Overdue(upstream string) bool {
	s := d.load()
	if !s.withDeadline {
		return false
	}
	at := s.deadlines[upstream]
	return !at.IsZero() && !time.Now().Before(at)
}

// Deadline returns the deadline of upstream's drain; zero for none.
func (d *MemoryDrains) Deadline(upstream string) time.Time { return d.load().deadlines[upstream] }

// Snapshot returns the draining upstreams with their deadlines (zero: none).
func (d *MemoryDrains) Snapshot() map[string]time.Time { return maps.Clone(d.load().deadlines) }

// Set starts (on) or ends (!on) the drain of upstream and reports whether
// that changed anything; see Drains.
func (d *MemoryDrains) Set(upstream string, on bool, deadline time.Time) (changed bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	set := d.load()
	cur, draining := set.deadlines[upstream]
	if !on && !draining || on && draining && (deadline.IsZero() || deadline.Equal(cur)) {
		return false, nil
	}
	next := set.copy()
	if on {
		next[upstream] = deadline
	} else {
		delete(next, upstream)
	}
	d.store(next)
	return true, nil
}

// Replace makes the set exactly drains (a copy of a set kept elsewhere),
// unless it is that already.
func (d *MemoryDrains) Replace(drains map[string]time.Time) {
	if maps.EqualFunc(d.load().deadlines, drains, time.Time.Equal) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.store(maps.Clone(drains))
}

// Retain forgets the drains of upstreams for which keep is false (upstreams
// no longer configured) and returns them.
func (d *MemoryDrains) Retain(keep func(upstream string) bool) (forgotten []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := d.load().copy()
	for u := range next {
		if !keep(u) {
			delete(next, u)
			forgotten = append(forgotten, u)
		}
	}
	if len(forgotten) > 0 {
		d.store(next)
	}
	slices.Sort(forgotten)
	return forgotten, nil
}

// store publishes next; the caller holds mu (or owns next alone).
func (d *MemoryDrains) store(next map[string]time.Time) {
	s := &drainSet{deadlines: next}
	for _, at := range next {
		s.withDeadline = s.withDeadline || !at.IsZero()
	}
	d.set.Store(s)
}

func (s *drainSet) copy() map[string]time.Time {
	if s.deadlines == nil {
		return map[string]time.Time{}
	}
	return maps.Clone(s.deadlines)
}
