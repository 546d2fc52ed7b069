package sessionaffinity

import (
	"sync"
	"sync/atomic"
)

// upstreamCounts counts a table's sessions per upstream, so that the
// least_sessions placement and the per-upstream gauge cost O(1) instead of a
// walk over the table. An upstream's counter is made on its first session and
// kept (there are few upstreams).
type upstreamCounts struct {
	m sync.Map // upstream -> *atomic.Int64
}

func (c *upstreamCounts) add(upstream string, delta int64) {
	if n, ok := c.m.Load(upstream); ok {
		n.(*atomic.Int64).Add(delta)
		return
	}
	n, _ := c.m.LoadOrStore(upstream, new(atomic.Int64))
	n.(*atomic.Int64).Add(delta)
}

// SessionsOn returns the number of live sessions bound to upstream. Sessions
// whose time is up count until the table's maintenance removes them (it runs
// as the table is used, and on CleanUp).
func (t *Table) SessionsOn(upstream string) int {
	if n, ok := t.counts.m.Load(upstream); ok {
		return int(n.(*atomic.Int64).Load())
	}
	return 0
}

// CountByUpstream returns the number of live sessions bound to each upstream
// that has had one.
func (t *Table) CountByUpstream() map[string]int {
	out := map[string]int{}
	t.counts.m.Range(func(k, v any) bool {
		out[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	return out
}

var _ SessionCounter = (*Table)(nil)
