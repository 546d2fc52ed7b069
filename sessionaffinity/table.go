package sessionaffinity

import (
	"fmt"
	"hash/maphash"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
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
	// OnRemove, if set, is called when a session expires or is evicted (not
	// when it is deleted or rebound). It runs on the table's maintenance path,
	// on the goroutine of a Lookup or Bind and under the table's eviction lock:
	// keep it cheap and never call back into the table.
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
	switch c.Expiry {
	case "", ExpirySliding, ExpiryFixed:
	default:
		return fmt.Errorf("unknown expiry %q (want %q or %q)", c.Expiry, ExpirySliding, ExpiryFixed)
	}
	return nil
}

// session is one binding. Its upstream never changes: a rebind stores a new
// session, so readers need no lock. The counters are updated in place.
type session struct {
	upstream string
	created  int64 // unix nanoseconds
	lastUsed atomic.Int64
	requests atomic.Uint64
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

// Table binds session ids to upstream keys. It is safe for concurrent use;
// reads take no lock.
//
// The table has two tiers, each a W-TinyLFU cache (otter). A new session
// enters the trial tier (a fifth of max_sessions); its second request moves it
// to the kept tier (the rest). A flood of one-off ids (a scan, or a client
// minting a new id per request) therefore only ever evicts other sessions on
// trial, never a session in use. One W-TinyLFU cache for both could not
// promise that: its frequency sketch is sized for max_sessions, so among 100
// times more one-off ids some collide into counts as high as a session used
// every thousand requests, and its admission lets such candidates in (about
// one in ten sessions in use was lost in TestTableFloodKeepsHotSessions).
type Table struct {
	trial *otter.Cache[string, *session]
	kept  *otter.Cache[string, *session] // nil when max_sessions is too small for two tiers
	// locks serialise the writes (bind, rebind, promotion, delete) of one id
	// across the two tiers, so that a session is never bound twice.
	locks [64]sync.Mutex
	cfg   TableConfig
}

// trialShare is the part of max_sessions that new sessions share until their
// second request: enough to see a session's second request through a flood of
// one-off ids of about as many as it holds.
const trialShare = 5

// NewTable makes an empty table.
func NewTable(cfg TableConfig) (*Table, error) { return newTable(cfg, nil) }

// newTable makes a table whose expiry follows clock (nil: the wall clock), so
// that a benchmark can let sessions lapse without waiting.
func newTable(cfg TableConfig, clock otter.Clock) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Expiry == "" {
		cfg.Expiry = ExpirySliding
	}
	trialSize := max(1, cfg.MaxSessions/trialShare)
	t := &Table{cfg: cfg}
	var err error
	if t.trial, err = newTier(cfg, clock, trialSize); err != nil {
		return nil, err
	}
	if keptSize := cfg.MaxSessions - trialSize; keptSize > 0 {
		if t.kept, err = newTier(cfg, clock, keptSize); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func newTier(cfg TableConfig, clock otter.Clock, size int) (*otter.Cache[string, *session], error) {
	opts := &otter.Options[string, *session]{
		MaximumSize: size,
		Clock:       clock,
		// Maintenance runs on the goroutine whose read or write filled the
		// cache's buffers, not on a new goroutine (otter's default). Run
		// asynchronously, it lags behind a flood of new ids; reads recorded
		// meanwhile are dropped, so sessions in use look cold to W-TinyLFU
		// and are evicted (TestFloodOfNewSessionIDs in caddymodule).
		Executor: func(maintain func()) { maintain() },
	}
	if cfg.Expiry == ExpiryFixed {
		// From the session's creation, which a promotion to the kept tier, a
		// rebind or an Adopt carries over.
		opts.ExpiryCalculator = fixedExpiry{timeout: int64(cfg.Timeout)}
	} else {
		opts.ExpiryCalculator = otter.ExpiryAccessing[string, *session](cfg.Timeout)
	}
	if cfg.OnRemove != nil {
		onRemove := cfg.OnRemove
		opts.OnDeletion = func(e otter.DeletionEvent[string, *session]) {
			switch e.Cause {
			case otter.CauseExpiration:
				onRemove(e.Key, e.Value.upstream, RemovedExpired)
			case otter.CauseOverflow:
				onRemove(e.Key, e.Value.upstream, RemovedEvicted)
			}
		}
	}
	cache, err := otter.New(opts)
	if err != nil {
		return nil, fmt.Errorf("creating session table: %w", err)
	}
	return cache, nil
}

// tiers returns the table's caches, the kept tier first.
func (t *Table) tiers() []*otter.Cache[string, *session] {
	if t.kept == nil {
		return []*otter.Cache[string, *session]{t.trial}
	}
	return []*otter.Cache[string, *session]{t.kept, t.trial}
}

// sessions yields every session of both tiers; one moving between them may
// be yielded twice.
func (t *Table) sessions() iter.Seq2[string, *session] {
	return func(yield func(string, *session) bool) {
		for _, tier := range t.tiers() {
			for id, s := range tier.All() {
				if !yield(id, s) {
					return
				}
			}
		}
	}
}

// lock takes the write lock of id and returns its unlock.
func (t *Table) lock(id string) func() {
	h := maphash.String(lockSeed, id)
	m := &t.locks[h%uint64(len(t.locks))]
	m.Lock()
	return m.Unlock
}

var lockSeed = maphash.MakeSeed()

// Config returns the configuration the table was made with.
func (t *Table) Config() TableConfig { return t.cfg }

// Lookup returns the upstream key bound to id and records the use (which, in
// sliding mode, restarts the session's timeout). A session's second request
// moves it from the trial tier to the kept one.
func (t *Table) Lookup(id string) (upstream string, found bool) {
	s, ok := t.find(id)
	if !ok {
		return "", false
	}
	s.lastUsed.Store(time.Now().UnixNano())
	s.requests.Add(1)
	return s.upstream, true
}

// find returns the session of id, promoting it if it is on trial.
func (t *Table) find(id string) (*session, bool) {
	if t.kept != nil {
		if s, ok := t.kept.GetIfPresent(id); ok {
			return s, true
		}
	}
	s, ok := t.trial.GetIfPresent(id)
	if !ok || t.kept == nil {
		return s, ok
	}
	defer t.lock(id)()
	if cur, ok := t.trial.GetIfPresent(id); ok && cur == s {
		t.kept.Set(id, s)
		t.trial.Invalidate(id)
		return s, true
	}
	// Promoted, rebound or deleted meanwhile: read it again.
	if s, ok := t.kept.GetIfPresent(id); ok {
		return s, true
	}
	return t.trial.GetIfPresent(id)
}

// Bind binds id to upstream unless it is bound already, and returns the
// upstream the session is bound to afterwards (the first binder wins).
func (t *Table) Bind(id, upstream string) (bound string) {
	defer t.lock(id)()
	if t.kept != nil {
		if s, ok := t.kept.GetIfPresent(id); ok {
			return s.upstream
		}
	}
	s, _ := t.trial.SetIfAbsent(id, newSession(upstream, time.Now().UnixNano(), 1))
	return s.upstream
}

// Rebind moves id from upstream `from` to `to`, but only while it is still
// bound to `from`, so that concurrent failovers agree on one new upstream. A
// session that no longer exists is bound to `to`. It returns the upstream the
// session is bound to afterwards.
func (t *Table) Rebind(id, from, to string) (bound string) {
	now := time.Now().UnixNano()
	defer t.lock(id)()
	for _, tier := range t.tiers() {
		old, found := tier.GetIfPresent(id)
		if !found {
			continue
		}
		if old.upstream != from {
			return old.upstream
		}
		moved := newSession(to, old.created, old.requests.Load())
		moved.lastUsed.Store(now)
		tier.Set(id, moved)
		return to
	}
	t.trial.Set(id, newSession(to, now, 1))
	return to
}

// Adopt makes id bound to upstream, whatever it was bound to, as a copy of a
// binding made elsewhere (another node, through a shared store) at created.
// With ExpiryFixed the copy expires when the original does, counted from
// created; with ExpirySliding its timeout starts now.
func (t *Table) Adopt(id, upstream string, created time.Time) {
	at := created.UnixNano()
	defer t.lock(id)()
	tier, requests := t.trial, uint64(1)
	for _, tr := range t.tiers() {
		if old, found := tr.GetIfPresent(id); found {
			if old.upstream == upstream && old.created == at {
				return
			}
			tier, requests = tr, old.requests.Load()
			break
		}
	}
	adopted := newSession(upstream, at, requests)
	adopted.lastUsed.Store(time.Now().UnixNano())
	tier.Set(id, adopted)
}

// fixedExpiry ends a session its timeout after its creation, also when the
// session was created before it entered this table (Adopt); a rebind keeps the
// creation time, and so the end. The session's age is taken on the wall clock
// (created is wall time), the rest left to the table's clock.
type fixedExpiry struct{ timeout int64 }

func (f fixedExpiry) ExpireAfterCreate(e otter.Entry[string, *session]) time.Duration {
	age := max(time.Now().UnixNano()-e.Value.created, 0)
	// At least 1ns: otter keeps an entry forever when it is given no time.
	return time.Duration(max(f.timeout-age, 1))
}

func (f fixedExpiry) ExpireAfterUpdate(e otter.Entry[string, *session], _ *session) time.Duration {
	return f.ExpireAfterCreate(e)
}

func (f fixedExpiry) ExpireAfterRead(e otter.Entry[string, *session]) time.Duration {
	return e.ExpiresAfter()
}

func newSession(upstream string, created int64, requests uint64) *session {
	s := &session{upstream: upstream, created: created}
	s.lastUsed.Store(created)
	s.requests.Store(requests)
	return s
}

// Get returns a snapshot of one session without counting it as a use.
func (t *Table) Get(id string) (SessionInfo, bool) {
	for _, tier := range t.tiers() {
		if e, ok := tier.GetEntryQuietly(id); ok {
			return t.info(e), true
		}
	}
	return SessionInfo{}, false
}

// All yields a snapshot of every session, in no particular order.
func (t *Table) All() iter.Seq[SessionInfo] {
	return func(yield func(SessionInfo) bool) {
		for _, tier := range t.tiers() {
			for id := range tier.Keys() {
				if e, ok := tier.GetEntryQuietly(id); ok && !yield(t.info(e)) {
					return
				}
			}
		}
	}
}

// info snapshots one entry. A fixed expiry is reported as the session's
// creation plus the timeout: the tiers compute it to within the microseconds
// that pass while a session moves between them.
func (t *Table) info(e otter.Entry[string, *session]) SessionInfo {
	s, expires := e.Value, e.ExpiresAtNano
	if t.cfg.Expiry == ExpiryFixed {
		expires = s.created + int64(t.cfg.Timeout)
	}
	return SessionInfo{
		ID:       e.Key,
		Upstream: s.upstream,
		Created:  time.Unix(0, s.created),
		LastUsed: time.Unix(0, s.lastUsed.Load()),
		Expires:  time.Unix(0, expires),
		Requests: s.requests.Load(),
	}
}

// Delete removes one session; it reports whether it was there.
func (t *Table) Delete(id string) bool {
	defer t.lock(id)()
	found := false
	for _, tier := range t.tiers() {
		if _, ok := tier.Invalidate(id); ok {
			found = true
		}
	}
	return found
}

// DeleteUpstream removes every session bound to upstream (to drain it) and
// returns how many it removed.
func (t *Table) DeleteUpstream(upstream string) int {
	n := 0
	for _, tier := range t.tiers() {
		for id, s := range tier.All() {
			if s.upstream != upstream {
				continue
			}
			removed := false
			tier.ComputeIfPresent(id, func(cur *session) (*session, otter.ComputeOp) {
				if cur.upstream != upstream {
					return cur, otter.CancelOp // rebound meanwhile: keep it
				}
				removed = true
				return nil, otter.InvalidateOp
			})
			if removed {
				n++
			}
		}
	}
	return n
}

// DeleteAll removes every session and returns about how many there were
// (sessions bound while it runs may or may not be counted).
func (t *Table) DeleteAll() int {
	n := 0
	for _, tier := range t.tiers() {
		n += tier.EstimatedSize()
		tier.InvalidateAll()
	}
	return n
}

// Forget deletes one session (Store); a table cannot fail to.
func (t *Table) Forget(id string) (bool, error) { return t.Delete(id), nil }

// ForgetUpstream deletes the sessions bound to upstream (Store).
func (t *Table) ForgetUpstream(upstream string) (int, error) { return t.DeleteUpstream(upstream), nil }

// ForgetAll deletes every session (Store).
func (t *Table) ForgetAll() (int, error) { return t.DeleteAll(), nil }

// Len returns the number of sessions held (an estimate while writes race).
func (t *Table) Len() int {
	n := 0
	for _, tier := range t.tiers() {
		n += tier.EstimatedSize()
	}
	return n
}

// CleanUp runs pending expiry and eviction now (the table otherwise does it in
// the background, as it is used).
func (t *Table) CleanUp() {
	for _, tier := range t.tiers() {
		tier.CleanUp()
	}
}

// Close stops the table's background work. The table must not be used after.
func (t *Table) Close() {
	for _, tier := range t.tiers() {
		tier.StopAllGoroutines()
	}
}
