package sessionaffinity

import (
	"fmt"
	"hash/maphash"
	"iter"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Expiry says how a session's timeout is counted.
type Expiry string

const (
	// ExpirySliding restarts the timeout on every request of the session (an
	// idle timeout, as HAProxy's stick-table expire and nginx's sticky learn).
	ExpirySliding Expiry = "sliding"
	// ExpiryFixed counts the timeout from the session's first binding, as
	// Synapse's sessionTimeout does.
	ExpiryFixed Expiry = "fixed"
)

// RemovalCause says why a session left the table on its own.
type RemovalCause string

const (
	// RemovedExpired means the session's timeout passed.
	RemovedExpired RemovalCause = "expired"
	// RemovedEvicted means the size bound pushed the session out.
	RemovedEvicted RemovalCause = "evicted"
)

// TableConfig configures a Table.
type TableConfig struct {
	// MaxSessions bounds the number of sessions kept.
	MaxSessions int
	// Timeout is how long a session lives (see Expiry).
	Timeout time.Duration
	// Expiry is ExpirySliding (default) or ExpiryFixed.
	Expiry Expiry
	// MaxLifetime, if set, ends a session that long after its first binding
	// however busy it is (Synapse's absolute sessionTimeout); with sliding
	// expiry the session ends at whichever of the two comes first. Expiry
	// fixed is the same as MaxLifetime = Timeout with no idle timeout.
	MaxLifetime time.Duration
	// OnRemove, if set, is called when a session expires or is evicted (not
	// when it is deleted or rebound). It runs on the goroutine of the Lookup,
	// Bind or sweep that removed the session, under the lock of its part of
	// the table: keep it cheap and never call back into the table.
	OnRemove func(id string, upstream string, cause RemovalCause)
}

// Validate reports a configuration the table cannot honour.
func (c TableConfig) Validate() error {
	if c.MaxSessions < 1 {
		return fmt.Errorf("max sessions must be at least 1, got %d", c.MaxSessions)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("session timeout must be positive, got %s", c.Timeout)
	}
	if c.MaxLifetime < 0 {
		return fmt.Errorf("session max lifetime must be positive, got %s", c.MaxLifetime)
	}
	switch c.Expiry {
	case "", ExpirySliding, ExpiryFixed:
	default:
		return fmt.Errorf("unknown expiry %q (want %q or %q)", c.Expiry, ExpirySliding, ExpiryFixed)
	}
	return nil
}

// SessionInfo is a snapshot of one session, for inspection.
type SessionInfo struct {
	ID       string    `json:"id"`
	Upstream string    `json:"upstream"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Expires  time.Time `json:"expires"`
	Requests uint64    `json:"requests"`
}

// Table binds session ids to upstream keys. It is safe for concurrent use.
//
// The table has two tiers. A new session enters the trial tier (a fifth of
// max_sessions, first in first out); its second request moves it to the kept
// tier (the rest, evicting with CLOCK: the session unused for longest, about).
// A flood of one-off ids (a scan, or a client minting a new id per request)
// therefore only ever evicts other sessions on trial, never a session in use.
//
// It is built for a million sessions and more: the sessions are split into
// shards by a hash of their id, each under its own lock, and a session is a
// fixed-size record (see entry) plus its id string and a slot of an index;
// upstream keys are interned, and each upstream's session count is kept up
// to date, so that counting costs O(1).
type Table struct {
	cfg       TableConfig
	shards    []shard
	shardBits int
	upstreams upstreamKeys
	len       atomic.Int64
	now       func() int64
	stop      chan struct{}
	closed    sync.Once
}

// trialShare is the part of max_sessions that new sessions share until their
// second request: enough to see a session's second request through a flood of
// one-off ids of about as many as it holds.
const trialShare = 5

// shardMin is the fewest sessions a shard is made for: below it, the tiers'
// bounds would be split too finely to hold as configured.
const shardMin = 8192

const maxShards = 64

// nanoClock tells the time in unix nanoseconds.
type nanoClock interface{ NowNano() int64 }

// NewTable makes an empty table.
func NewTable(cfg TableConfig) (*Table, error) { return newTable(cfg, nil) }

// newTable makes a table whose expiry follows clock (nil: the wall clock), so
// that a benchmark can let sessions lapse without waiting.
func newTable(cfg TableConfig, clock nanoClock) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Expiry == "" {
		cfg.Expiry = ExpirySliding
	}
	t := &Table{cfg: cfg, stop: make(chan struct{})}
	t.now = func() int64 { return time.Now().UnixNano() }
	if clock != nil {
		t.now = clock.NowNano
	}
	n := min(maxShards, max(1, cfg.MaxSessions/shardMin))
	t.shardBits = bits.Len(uint(n)) - 1 // a power of two, at most n
	t.shards = make([]shard, 1<<t.shardBits)
	trialSize := max(1, cfg.MaxSessions/trialShare)
	keptSize := cfg.MaxSessions - trialSize
	for i := range t.shards {
		t.shards[i].trialCap = share(trialSize, len(t.shards), i)
		t.shards[i].keptCap = share(keptSize, len(t.shards), i)
	}
	go t.sweeper(sweepEvery(cfg.Timeout))
	return t, nil
}

// share is shard i's part of total split between n shards.
func share(total, n, i int) int {
	part := total / n
	if i < total%n {
		part++
	}
	return part
}

// sweepEvery is how often the table removes expired sessions that nobody
// asks for (a lookup of an expired session removes it at once).
func sweepEvery(timeout time.Duration) time.Duration {
	return min(max(timeout/2, 10*time.Millisecond), 5*time.Second)
}

func (t *Table) sweeper(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.CleanUp()
		}
	}
}

var hashSeed = maphash.MakeSeed()

func (t *Table) hash(id string) uint64 { return maphash.String(hashSeed, id) }

// shardOf returns id's hash and shard: the shard from the hash's top bits,
// the index slot from its bottom ones.
func (t *Table) shardOf(id string) (uint64, *shard) {
	h := t.hash(id)
	return h, &t.shards[h>>(64-t.shardBits)&(1<<t.shardBits-1)]
}

// expired reports whether e's timeout has passed at now.
func (t *Table) expired(e *entry, now int64) bool {
	return now >= t.expiresAt(e)
}

// expiresAt is when e ends: idle timeout after its last use (sliding), or its
// lifetime after its first binding (the timeout with expiry fixed,
// max_lifetime), whichever comes first. A rebind or an Adopt keeps the first
// binding's time.
func (t *Table) expiresAt(e *entry) int64 {
	end := e.lastUsed + int64(t.cfg.Timeout)
	if t.cfg.Expiry == ExpiryFixed {
		end = e.created + int64(t.cfg.Timeout)
	}
	if limit := int64(t.cfg.MaxLifetime); limit > 0 {
		end = min(end, e.created+limit)
	}
	return end
}

// lockLive locks the shard of id and returns it, with id's hash, the time
// and the ref of id's live session (0: none). The caller unlocks the shard.
func (t *Table) lockLive(id string) (s *shard, h uint64, now int64, ref uint32) {
	h, s = t.shardOf(id)
	now = t.now()
	s.mu.Lock()
	return s, h, now, s.live(t, h, id, now)
}

// live returns the ref of id's session, removing it if it has expired.
func (s *shard) live(t *Table, h uint64, id string, now int64) uint32 {
	ref, _ := s.find(h, id)
	if ref != 0 && t.expired(s.at(ref), now) {
		s.remove(ref, RemovedExpired, t)
		return 0
	}
	return ref
}

// Config returns the configuration the table was made with.
func (t *Table) Config() TableConfig { return t.cfg }

// Lookup returns the upstream key bound to id and records the use (which, in
// sliding mode, restarts the session's timeout). A session's second request
// moves it from the trial tier to the kept one.
func (t *Table) Lookup(id string) (upstream string, found bool) {
	s, _, now, ref := t.lockLive(id)
	defer s.mu.Unlock()
	if ref == 0 {
		return "", false
	}
	e := s.at(ref)
	e.lastUsed = now
	if e.requests < ^uint32(0) {
		e.requests++
	}
	if e.kept() {
		e.upFlags |= flagUsed
	} else {
		s.promote(ref, t)
	}
	return t.upstreams.name(e.upstream()), true
}

// Bind binds id to upstream unless it is bound already, and returns the
// upstream the session is bound to afterwards (the first binder wins) and
// whether this call made the binding (false: a concurrent request bound it
// first). The table keeps id as it is, without a copy: pass a string of its
// own, not a slice of a larger one.
func (t *Table) Bind(id, upstream string) (bound string, made bool) {
	u, ok := t.upstreams.intern(upstream)
	if !ok {
		// Too many upstream keys to store another: the session stays
		// unbound, but this call placed it, so it counts as made.
		return upstream, true
	}
	s, h, now, ref := t.lockLive(id)
	defer s.mu.Unlock()
	if ref != 0 {
		return t.upstreams.name(s.at(ref).upstream()), false
	}
	s.insert(t, h, id, u, now)
	return upstream, true
}

// Rebind moves id from upstream `from` to `to`, but only while it is still
// bound to `from`, so that concurrent failovers agree on one new upstream. A
// session that no longer exists is bound to `to`. It returns the upstream the
// session is bound to afterwards, and whether this call moved it there (false:
// a concurrent rebind moved it first).
func (t *Table) Rebind(id, from, to string) (bound string, moved bool) {
	u, ok := t.upstreams.intern(to)
	if !ok {
		return to, true // too many upstream keys to store another, as Bind
	}
	s, h, now, ref := t.lockLive(id)
	defer s.mu.Unlock()
	if ref == 0 {
		s.insert(t, h, id, u, now)
		return to, true
	}
	e := s.at(ref)
	if cur := t.upstreams.name(e.upstream()); cur != from {
		return cur, false
	}
	t.upstreams.add(e.upstream(), -1)
	t.upstreams.add(u, 1)
	e.setUpstream(u)
	e.lastUsed = now
	return to, true
}

// Adopt makes id bound to upstream, whatever it was bound to, as a copy of a
// binding made elsewhere (another node, through a shared store) at created.
// With ExpiryFixed the copy expires when the original does, counted from
// created; with ExpirySliding its timeout starts now. A session already in the
// table keeps its tier and request count.
func (t *Table) Adopt(id, upstream string, created time.Time) {
	u, ok := t.upstreams.intern(upstream)
	if !ok {
		return
	}
	at := created.UnixNano()
	s, h, now, ref := t.lockLive(id)
	defer s.mu.Unlock()
	if ref == 0 {
		ref = s.insert(t, h, id, u, now)
	} else if e := s.at(ref); e.upstream() == u && e.created == at {
		return
	}
	e := s.at(ref)
	t.upstreams.add(e.upstream(), -1)
	t.upstreams.add(u, 1)
	e.setUpstream(u)
	e.created, e.lastUsed = at, now
}

// Get returns a snapshot of one session without counting it as a use.
func (t *Table) Get(id string) (SessionInfo, bool) {
	h, s := t.shardOf(id)
	now := t.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, _ := s.find(h, id)
	if ref == 0 || t.expired(s.at(ref), now) {
		return SessionInfo{}, false
	}
	return t.info(s.at(ref)), true
}

// info snapshots one session.
func (t *Table) info(e *entry) SessionInfo {
	return SessionInfo{
		ID:       e.id,
		Upstream: t.upstreams.name(e.upstream()),
		Created:  time.Unix(0, e.created),
		LastUsed: time.Unix(0, e.lastUsed),
		Expires:  time.Unix(0, t.expiresAt(e)),
		Requests: uint64(e.requests),
	}
}

// All yields a snapshot of every session, in table order (see Page). The
// table is not locked while the caller handles a session.
func (t *Table) All() iter.Seq[SessionInfo] {
	return func(yield func(SessionInfo) bool) {
		for p := (position{}); p.shard < len(t.shards); {
			var page []SessionInfo
			page, p = t.scan(p, noUpstream, chunkLen, chunkLen)
			for _, si := range page {
				if !yield(si) {
					return
				}
			}
		}
	}
}

// Forget deletes one session (Store) and reports whether it was there; a
// table cannot fail to.
func (t *Table) Forget(id string) (bool, error) {
	h, s := t.shardOf(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, _ := s.find(h, id)
	if ref == 0 {
		return false, nil
	}
	s.remove(ref, "", t)
	return true, nil
}

// ForgetUpstream deletes every session bound to upstream (Store), to drain
// it, and returns how many it deleted.
func (t *Table) ForgetUpstream(upstream string) (int, error) {
	u, ok := t.upstreams.lookup(upstream)
	if !ok {
		return 0, nil
	}
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for ref := uint32(1); ref < s.next; ref++ {
			if e := s.at(ref); e.id != "" && e.upstream() == u {
				s.remove(ref, "", t)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n, nil
}

// ForgetAll deletes every session (Store) and returns how many there were
// (sessions bound while it runs may or may not be counted).
func (t *Table) ForgetAll() (int, error) {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.reset(t)
		s.mu.Unlock()
	}
	return n, nil
}

// Len returns the number of sessions held, expired ones not yet swept
// included. It costs O(1).
func (t *Table) Len() int { return int(t.len.Load()) }

// SessionsOn returns the number of sessions bound to the upstream with key
// upstream (expired ones not yet swept included), for the least_sessions
// placement (SessionCounter). It costs O(1).
func (t *Table) SessionsOn(upstream string) int { return t.upstreams.count(upstream) }

var _ SessionCounter = (*Table)(nil)

// UpstreamCounts yields every upstream key the table has bound a session to,
// with its count of sessions as SessionsOn returns it.
func (t *Table) UpstreamCounts() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		l := t.upstreams.load()
		for i, name := range l.names {
			if !yield(name, int(l.counts[i].Load())) {
				return
			}
		}
	}
}

// CleanUp removes expired sessions now (the table otherwise does it every
// half timeout, at most every 5 seconds, and whenever one is looked up).
func (t *Table) CleanUp() {
	now := t.now()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.sweep(t, now)
		s.mu.Unlock()
	}
}

// Close stops the table's background work. The table must not be used after.
func (t *Table) Close() { t.closed.Do(func() { close(t.stop) }) }
