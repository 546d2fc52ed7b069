package sessionaffinity

import (
	"fmt"
	"iter"
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

// Table binds session ids to upstream keys. It is safe for concurrent use.
// Reads take no lock; under a flood of new ids the W-TinyLFU admission of the
// underlying cache keeps sessions that are in use and drops one-hit ids first.
type Table struct {
	cache *otter.Cache[string, *session]
	cfg   TableConfig
}

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
	opts := &otter.Options[string, *session]{
		MaximumSize: cfg.MaxSessions,
		Clock:       clock,
		// Maintenance runs on the goroutine whose read or write filled the
		// cache's buffers, not on a new goroutine (otter's default). Run
		// asynchronously, it lags behind a flood of new ids; reads recorded
		// meanwhile are dropped, so sessions in use look cold to W-TinyLFU
		// and are evicted (TestFloodOfNewSessionIDs in caddymodule).
		Executor: func(maintain func()) { maintain() },
	}
	if cfg.Expiry == ExpiryFixed {
		opts.ExpiryCalculator = otter.ExpiryCreating[string, *session](cfg.Timeout)
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
	return &Table{cache: cache, cfg: cfg}, nil
}

// Config returns the configuration the table was made with.
func (t *Table) Config() TableConfig { return t.cfg }

// Lookup returns the upstream key bound to id and records the use (which, in
// sliding mode, restarts the session's timeout).
func (t *Table) Lookup(id string) (upstream string, found bool) {
	s, ok := t.cache.GetIfPresent(id)
	if !ok {
		return "", false
	}
	s.lastUsed.Store(time.Now().UnixNano())
	s.requests.Add(1)
	return s.upstream, true
}

// Bind binds id to upstream unless it is bound already, and returns the
// upstream the session is bound to afterwards (the first binder wins).
func (t *Table) Bind(id, upstream string) (bound string) {
	s, _ := t.cache.SetIfAbsent(id, newSession(upstream, time.Now().UnixNano(), 1))
	return s.upstream
}

// Rebind moves id from upstream `from` to `to`, but only while it is still
// bound to `from`, so that concurrent failovers agree on one new upstream. A
// session that no longer exists is bound to `to`. It returns the upstream the
// session is bound to afterwards.
func (t *Table) Rebind(id, from, to string) (bound string) {
	now := time.Now().UnixNano()
	s, _ := t.cache.Compute(id, func(old *session, found bool) (*session, otter.ComputeOp) {
		switch {
		case !found:
			return newSession(to, now, 1), otter.WriteOp
		case old.upstream != from:
			return old, otter.CancelOp
		default:
			moved := newSession(to, old.created, old.requests.Load())
			moved.lastUsed.Store(now)
			return moved, otter.WriteOp
		}
	})
	return s.upstream
}

func newSession(upstream string, created int64, requests uint64) *session {
	s := &session{upstream: upstream, created: created}
	s.lastUsed.Store(created)
	s.requests.Store(requests)
	return s
}

// Get returns a snapshot of one session without counting it as a use.
func (t *Table) Get(id string) (SessionInfo, bool) {
	e, ok := t.cache.GetEntryQuietly(id)
	if !ok {
		return SessionInfo{}, false
	}
	return info(e.Key, e.Value, e.ExpiresAtNano), true
}

// All yields a snapshot of every session, in no particular order.
func (t *Table) All() iter.Seq[SessionInfo] {
	return func(yield func(SessionInfo) bool) {
		for id := range t.cache.Keys() {
			if si, ok := t.Get(id); ok && !yield(si) {
				return
			}
		}
	}
}

func info(id string, s *session, expiresAtNano int64) SessionInfo {
	return SessionInfo{
		ID:       id,
		Upstream: s.upstream,
		Created:  time.Unix(0, s.created),
		LastUsed: time.Unix(0, s.lastUsed.Load()),
		Expires:  time.Unix(0, expiresAtNano),
		Requests: s.requests.Load(),
	}
}

// Delete removes one session; it reports whether it was there.
func (t *Table) Delete(id string) bool {
	_, ok := t.cache.Invalidate(id)
	return ok
}

// DeleteUpstream removes every session bound to upstream (to drain it) and
// returns how many it removed.
func (t *Table) DeleteUpstream(upstream string) int {
	n := 0
	for id, s := range t.cache.All() {
		if s.upstream != upstream {
			continue
		}
		removed := false
		t.cache.ComputeIfPresent(id, func(cur *session) (*session, otter.ComputeOp) {
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
	return n
}

// DeleteAll removes every session and returns about how many there were
// (sessions bound while it runs may or may not be counted).
func (t *Table) DeleteAll() int {
	n := t.cache.EstimatedSize()
	t.cache.InvalidateAll()
	return n
}

// Forget deletes one session (Store); a table cannot fail to.
func (t *Table) Forget(id string) (bool, error) { return t.Delete(id), nil }

// Len returns the number of sessions held (an estimate while writes race).
func (t *Table) Len() int { return t.cache.EstimatedSize() }

// CleanUp runs pending expiry and eviction now (the table otherwise does it in
// the background, as it is used).
func (t *Table) CleanUp() { t.cache.CleanUp() }

// Close stops the table's background work. The table must not be used after.
func (t *Table) Close() { t.cache.StopAllGoroutines() }
