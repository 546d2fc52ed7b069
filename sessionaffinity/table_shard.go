package sessionaffinity

import "sync"

// A shard holds the sessions whose id hashes to it, under one lock. Its
// sessions live in entries, fixed-size records in chunks that are allocated
// as the shard fills and reused through a free list, so that a session costs
// one record, its id string and a slot of the index, and nothing the garbage
// collector has to look into besides the id.
//
// The two tiers of the table are kept per shard: trial is a FIFO list of the
// sessions seen once (linked through the entries), kept holds the others and
// evicts with CLOCK (a hand over the entries that spares a session used
// since the hand last passed it).
type shard struct {
	mu     sync.Mutex
	index  []uint64 // open addressing, linear probing: hash<<32 | ref; 0 is empty
	used   int      // occupied slots of index
	chunks []*[chunkLen]entry
	next   uint32 // refs from 1 to next-1 have been handed out
	free   uint32 // first free ref, chained through entry.next; 0: none
	// The trial tier: a FIFO list, oldest first.
	trialHead, trialTail uint32
	trialLen, trialCap   int
	// The kept tier, and the CLOCK hand over refs.
	keptLen, keptCap int
	hand             uint32
}

const (
	chunkBits = 8
	chunkLen  = 1 << chunkBits
)

// entry is one session. ref 0 is never handed out, so that 0 can mean none.
type entry struct {
	id       string // "" while free
	created  int64  // unix nanoseconds
	lastUsed int64  // unix nanoseconds
	requests uint32 // saturating
	// upstream index (into the table's interned keys) << 8 | flags
	upFlags uint32
	// links of the trial list; next also chains the free list
	prev, next uint32
}

// entry flags
const (
	flagKept = 1 << iota // in the kept tier, else on trial
	flagUsed             // used since the CLOCK hand passed (kept tier)
	flagBits = 8
)

func (e *entry) upstream() uint32 { return e.upFlags >> flagBits }
func (e *entry) kept() bool       { return e.upFlags&flagKept != 0 }
func (e *entry) setUpstream(u uint32) {
	e.upFlags = u<<flagBits | e.upFlags&(1<<flagBits-1)
}

func (s *shard) at(ref uint32) *entry { return &s.chunks[ref>>chunkBits][ref&(chunkLen-1)] }

// find returns the ref of id and its slot in the index, or ref 0 and the free
// slot where id would go.
func (s *shard) find(h uint64, id string) (ref uint32, slot int) {
	if len(s.index) == 0 {
		return 0, -1
	}
	mask := len(s.index) - 1
	tag := h & 0xffffffff
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := s.index[i]
		if v == 0 {
			return 0, i
		}
		if v>>32 == tag {
			if r := uint32(v); s.at(r).id == id {
				return r, i
			}
		}
	}
}

// insert adds a new session to the trial tier (evicting the oldest session
// on trial if the tier is full) and returns its ref. id must not be present.
func (s *shard) insert(t *Table, h uint64, id string, upstream uint32, now int64) uint32 {
	if s.trialLen >= s.trialCap {
		s.remove(s.trialHead, RemovedEvicted, t)
	}
	if (s.used+1)*4 > len(s.index)*3 {
		s.grow()
	}
	ref := s.alloc()
	e := s.at(ref)
	*e = entry{id: id, created: now, lastUsed: now, requests: 1, upFlags: upstream << flagBits}
	s.trialPush(ref)
	_, slot := s.find(h, id)
	s.index[slot] = h<<32 | uint64(ref)
	s.used++
	t.upstreams.add(upstream, 1)
	t.len.Add(1)
	return ref
}

func (s *shard) alloc() uint32 {
	if ref := s.free; ref != 0 {
		s.free = s.at(ref).next
		return ref
	}
	if s.next == 0 {
		s.next = 1
	}
	ref := s.next
	s.next++
	if int(ref>>chunkBits) == len(s.chunks) {
		s.chunks = append(s.chunks, new([chunkLen]entry))
	}
	return ref
}

// remove takes a session out of the table; cause "" is an explicit removal,
// which OnRemove does not hear of.
func (s *shard) remove(ref uint32, cause RemovalCause, t *Table) {
	e := s.at(ref)
	if e.kept() {
		s.keptLen--
	} else {
		s.trialUnlink(ref)
	}
	s.unindex(t.hash(e.id), e.id)
	up := e.upstream()
	t.upstreams.add(up, -1)
	t.len.Add(-1)
	if cause != "" && t.cfg.OnRemove != nil {
		t.cfg.OnRemove(e.id, t.upstreams.name(up), cause)
	}
	*e = entry{next: s.free}
	s.free = ref
}

// unindex deletes id's slot with backward shifting, which keeps every probe
// sequence unbroken without tombstones.
func (s *shard) unindex(h uint64, id string) {
	_, i := s.find(h, id)
	mask := len(s.index) - 1
	for j := i; ; {
		j = (j + 1) & mask
		v := s.index[j]
		if v == 0 {
			s.index[i] = 0
			s.used--
			return
		}
		// v may fill the hole at i unless its home lies cyclically in (i, j].
		home := int(v>>32) & mask
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		s.index[i] = v
		i = j
	}
}

func (s *shard) grow() {
	old := s.index
	s.index = make([]uint64, max(2*len(old), 8))
	mask := len(s.index) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := int(v>>32) & mask
		for s.index[i] != 0 {
			i = (i + 1) & mask
		}
		s.index[i] = v
	}
}

func (s *shard) trialPush(ref uint32) {
	e := s.at(ref)
	e.prev, e.next = s.trialTail, 0
	if s.trialTail != 0 {
		s.at(s.trialTail).next = ref
	} else {
		s.trialHead = ref
	}
	s.trialTail = ref
	s.trialLen++
}

func (s *shard) trialUnlink(ref uint32) {
	e := s.at(ref)
	if e.prev != 0 {
		s.at(e.prev).next = e.next
	} else {
		s.trialHead = e.next
	}
	if e.next != 0 {
		s.at(e.next).prev = e.prev
	} else {
		s.trialTail = e.prev
	}
	e.prev, e.next = 0, 0
	s.trialLen--
}

// promote moves a session on trial to the kept tier, making room there.
func (s *shard) promote(ref uint32, t *Table) {
	if s.keptCap == 0 {
		return // max_sessions too small for two tiers
	}
	if s.keptLen >= s.keptCap {
		s.remove(s.victim(), RemovedEvicted, t)
	}
	s.trialUnlink(ref)
	s.at(ref).upFlags |= flagKept
	s.keptLen++
}

// victim returns the kept session the CLOCK hand stops at: the first one not
// used since the hand last passed it. The tier is full, so one turns up
// within two turns.
func (s *shard) victim() uint32 {
	for {
		if s.hand++; s.hand >= s.next {
			s.hand = 1
		}
		e := s.at(s.hand)
		if e.id == "" || !e.kept() {
			continue
		}
		if e.upFlags&flagUsed != 0 {
			e.upFlags &^= flagUsed
			continue
		}
		return s.hand
	}
}

// sweep removes the shard's expired sessions.
func (s *shard) sweep(t *Table, now int64) {
	for ref := uint32(1); ref < s.next; ref++ {
		if e := s.at(ref); e.id != "" && t.expired(e, now) {
			s.remove(ref, RemovedExpired, t)
		}
	}
}

// reset forgets every session of the shard and returns how many it held.
func (s *shard) reset(t *Table) int {
	n := s.trialLen + s.keptLen
	for ref := uint32(1); ref < s.next; ref++ {
		if e := s.at(ref); e.id != "" {
			t.upstreams.add(e.upstream(), -1)
		}
	}
	t.len.Add(-int64(n))
	s.index, s.used, s.chunks, s.next, s.free = nil, 0, nil, 0, 0
	s.trialHead, s.trialTail, s.trialLen, s.keptLen, s.hand = 0, 0, 0, 0, 0
	return n
}
