package sessionaffinity

import (
	"sync"
	"sync/atomic"
)

// upstreamKeys interns the upstream keys of a table, so that a session holds
// a small index instead of a string, and counts the sessions bound to each,
// so that the count of one upstream costs a load, however large the table.
// Keys are only ever added: a pool's keys are few and change rarely.
type upstreamKeys struct {
	mu   sync.Mutex // serialises additions
	list atomic.Pointer[upstreamList]
}

// upstreamList is immutable once published, but for the counts it shares
// with its successors.
type upstreamList struct {
	names  []string
	index  map[string]uint32
	counts []*atomic.Int64
}

// maxUpstreams is how many keys the 24 bits of an entry's upstream index hold.
const maxUpstreams = 1 << (32 - flagBits)

func (u *upstreamKeys) load() *upstreamList {
	if l := u.list.Load(); l != nil {
		return l
	}
	return &upstreamList{}
}

// intern returns the index of key, adding it if it is new. ok is false if
// the table already knows maxUpstreams keys.
func (u *upstreamKeys) intern(key string) (i uint32, ok bool) {
	if i, ok := u.load().index[key]; ok {
		return i, true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	old := u.load()
	if i, ok := old.index[key]; ok {
		return i, true
	}
	if len(old.names) >= maxUpstreams {
		return 0, false
	}
	l := &upstreamList{
		names:  append(old.names[:len(old.names):len(old.names)], key),
		index:  make(map[string]uint32, len(old.index)+1),
		counts: append(old.counts[:len(old.counts):len(old.counts)], new(atomic.Int64)),
	}
	for k, v := range old.index {
		l.index[k] = v
	}
	i = uint32(len(old.names))
	l.index[key] = i
	u.list.Store(l)
	return i, true
}

// lookup returns the index of key if the table knows it.
func (u *upstreamKeys) lookup(key string) (uint32, bool) {
	i, ok := u.load().index[key]
	return i, ok
}

func (u *upstreamKeys) name(i uint32) string { return u.load().names[i] }

func (u *upstreamKeys) add(i uint32, n int64) { u.load().counts[i].Add(n) }

func (u *upstreamKeys) count(key string) int {
	l := u.load()
	if i, ok := l.index[key]; ok {
		return int(l.counts[i].Load())
	}
	return 0
}
