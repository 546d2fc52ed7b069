package sessionaffinity

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// DrainReader is the read side of a policy's drains, what the router and the
// fallback policy see: which upstreams are draining. A draining upstream takes
// no new session and no request without one, while the sessions bound to it
// stay until they expire, are forgotten, or their upstream becomes
// unavailable.
type DrainReader interface {
	// Any reports whether some upstream is draining, so that the router's
	// common case (none) costs one check.
	Any() bool
	// Draining reports whether upstream is draining.
	Draining(upstream string) bool
}

// Drains keeps a policy's drains, read and written: in this process
// (*MemoryDrains), or in Redis, where every node of the policy reads them
// (redisstore.Drains). The admin API starts and ends drains through it.
type Drains interface {
	DrainReader
	// Set starts (on) or ends (!on) the drain of upstream and reports whether
	// that changed anything. An error means the change may not have reached
	// every node.
	Set(upstream string, on bool) (changed bool, err error)
	// Retain forgets the drains of upstreams for which keep is false (those
	// no longer configured) and returns them.
	Retain(keep func(upstream string) bool) (forgotten []string, err error)
}

// MemoryDrains is a set of draining upstreams kept in this process's memory:
// a policy's Drains on one node, and the mirror of redisstore.Drains. Reads
// take no lock (the set is copied on write: drains change rarely, placements
// read them on every new session). The zero value is an empty set.
type MemoryDrains struct {
	mu  sync.Mutex // serialises writers
	set atomic.Pointer[map[string]struct{}]
}

var _ Drains = (*MemoryDrains)(nil)

// Any reports whether some upstream is draining.
func (d *MemoryDrains) Any() bool {
	s := d.set.Load()
	return s != nil && len(*s) > 0
}

// Draining reports whether upstream is draining.
func (d *MemoryDrains) Draining(upstream string) bool {
	s := d.set.Load()
	if s == nil {
		return false
	}
	_, ok := (*s)[upstream]
	return ok
}

// list returns the draining upstreams in order.
func (d *MemoryDrains) list() []string {
	s := d.set.Load()
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*s))
}

// Set starts (on) or ends (!on) the drain of upstream and reports whether
// that changed anything.
func (d *MemoryDrains) Set(upstream string, on bool) (changed bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Draining(upstream) == on {
		return false, nil
	}
	next := d.copy()
	if on {
		next[upstream] = struct{}{}
	} else {
		delete(next, upstream)
	}
	d.set.Store(&next)
	return true, nil
}

// Replace makes the set exactly upstreams (a copy of a set kept elsewhere),
// unless it is that already.
func (d *MemoryDrains) Replace(upstreams []string) {
	if cur := d.set.Load(); cur != nil && len(*cur) == len(upstreams) {
		same := true
		for _, u := range upstreams {
			if _, ok := (*cur)[u]; !ok {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	next := make(map[string]struct{}, len(upstreams))
	for _, u := range upstreams {
		next[u] = struct{}{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set.Store(&next)
}

// Retain forgets the drains of upstreams for which keep is false (upstreams
// no longer configured) and returns them.
func (d *MemoryDrains) Retain(keep func(upstream string) bool) (forgotten []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := d.copy()
	for u := range next {
		if !keep(u) {
			delete(next, u)
			forgotten = append(forgotten, u)
		}
	}
	if len(forgotten) > 0 {
		d.set.Store(&next)
	}
	slices.Sort(forgotten)
	return forgotten, nil
}

func (d *MemoryDrains) copy() map[string]struct{} {
	if s := d.set.Load(); s != nil {
		return maps.Clone(*s)
	}
	return map[string]struct{}{}
}
