// Package redisstore keeps in Redis (one server, Sentinel or Cluster) what
// several Caddy nodes of a policy share: the session bindings (Store), so
// that every node sends a session to the same upstream; the drains (Drains);
// and the count of live sessions per upstream (Counts), for least_sessions,
// placement hash and drains. It has no Caddy import: the Caddy glue parses
// the config and shares Clients across config reloads.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Defaults of a Store.
const (
	defaultCommandTimeout = time.Second
	defaultBackoff        = time.Second
	// The default slack of sliding expiry is half the session timeout, at
	// most 5 minutes: a busy session's key is written once per slack, which
	// then costs every node that cached it a fresh read.
	defaultSlackShare = 2
	maxDefaultSlack   = 5 * time.Minute
)

// adminTimeout bounds a deletion through the admin API, which may scan every
// session key.
const adminTimeout = 10 * time.Second

// Config configures a Store.
type Config struct {
	// Client talks to Redis. The store does not close it, so that one client
	// can outlive the stores of successive configs.
	Client *Client
	// KeyPrefix goes before each session id to make its Redis key.
	KeyPrefix string
	// Local is this node's table. Its Timeout and Expiry are the sessions'. It
	// holds a copy of every binding this node has used, and serves alone while
	// Redis is unreachable.
	Local *sessionaffinity.Table
	// CommandTimeout is how long Redis may stay silent before a command gives
	// up and the request goes on without Redis; while Redis answers other
	// commands, a command queued behind them waits up to 10 times as long.
	// Default: 1s.
	CommandTimeout time.Duration
	// Backoff is how long Redis is left alone after a failed command; then one
	// request tries it again while the others keep to the local table.
	// Default: 1s.
	Backoff time.Duration
	// CacheTTL is, with sliding expiry, the slack of a session's timeout in
	// Redis: a session lives there from its idle timeout to its idle timeout
	// plus CacheTTL after its last use on any node. A node that uses a
	// session whose key has less than the timeout left extends it to the
	// timeout plus CacheTTL, so a busy session's key is written about once
	// per CacheTTL, whichever nodes use it; each write makes every node that
	// cached the binding read it again once (Redis's tracking invalidates a
	// key whose timeout changes), and between writes a use is a cache hit. It
	// must be shorter than the session timeout. Default: half the timeout, at
	// most 5m. (Cached bindings need no other time limit: Redis
	// tells each node the moment a binding it cached changes.)
	CacheTTL time.Duration
	// CountSets, if set, is the prefix of the per-upstream sets of session
	// keys that the binding scripts keep, for exact session counts (Counts);
	// on a Cluster they are not kept.
	CountSets string
	// OnError, if set, is called for every failed Redis command.
	OnError func(err error)
	// OnDown, if set, is called when Redis stops answering (once per outage),
	// and OnUp when it answers again.
	OnDown func(err error)
	OnUp   func()
}

// Store keeps session bindings in Redis. The first node to bind a session wins
// (set-if-absent with the session timeout) and the others follow; a rebind
// replaces the binding only while it still names the failed upstream. Each
// node caches the bindings it reads, and Redis invalidates a cached binding
// as soon as any node changes it (client-side caching with CLIENT TRACKING),
// so a cache hit costs no round trip and is never stale. When Redis fails or
// is slow, the store serves from its local table and never fails a request;
// bindings made meanwhile are shared when Redis answers again.
type Store struct {
	client    *Client
	prefix    string
	local     *sessionaffinity.Table
	timeout   time.Duration
	timeoutMS string // the session timeout in milliseconds, for the scripts
	sliding   bool
	// keyTTL is what a new binding's key lives: the timeout, plus the slack
	// with sliding expiry, at most the lifetime.
	keyTTL   time.Duration
	keyTTLMS string
	// extendTTL is what a use gives a sliding key: the timeout plus the slack.
	extendTTL time.Duration
	// maxKeyTTL is the most a key lives: the client-side cache is asked to
	// keep a binding that long, so that it keeps it as long as Redis does
	// (it keeps it no longer) and tells what is left of the key.
	maxKeyTTL time.Duration
	// lifetime is the sessions' max_lifetime (0: none), kept in a key of its
	// own beside each binding (lifetimeKey) with sliding expiry; with fixed
	// expiry, keyTTL holds it.
	lifetime   time.Duration
	lifetimeMS string
	cmdTimeout time.Duration
	countSets  string
	onError    func(error)
	health     health
}

// New makes a store on cfg.Client in front of cfg.Local.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil || cfg.Local == nil {
		return nil, errors.New("redis store needs a client and a local table")
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = defaultCommandTimeout
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = defaultBackoff
	}
	tc := cfg.Local.Config()
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = min(tc.Timeout/defaultSlackShare, maxDefaultSlack)
	}
	switch {
	case cfg.CommandTimeout < 0:
		return nil, fmt.Errorf("redis command timeout must be positive, got %s", cfg.CommandTimeout)
	case cfg.Backoff < 0:
		return nil, fmt.Errorf("redis backoff must be positive, got %s", cfg.Backoff)
	case tc.Timeout < time.Millisecond:
		return nil, fmt.Errorf("a session timeout kept in redis must be at least 1ms, got %s", tc.Timeout)
	case cfg.CacheTTL <= 0 || cfg.CacheTTL >= tc.Timeout:
		return nil, fmt.Errorf("redis cache ttl must be positive and shorter than the session timeout %s, got %s", tc.Timeout, cfg.CacheTTL)
	}
	s := &Store{
		client:     cfg.Client,
		prefix:     cfg.KeyPrefix,
		local:      cfg.Local,
		timeout:    tc.Timeout,
		timeoutMS:  msString(tc.Timeout),
		sliding:    tc.Expiry != sessionaffinity.ExpiryFixed,
		keyTTL:     tc.Timeout,
		cmdTimeout: cfg.CommandTimeout,
		countSets:  cfg.CountSets,
		onError:    cfg.OnError,
		health:     health{backoff: cfg.Backoff, onDown: cfg.OnDown, onUp: cfg.OnUp},
	}
	if s.sliding {
		s.extendTTL = tc.Timeout + cfg.CacheTTL
		s.keyTTL = s.extendTTL
		s.lifetime, s.lifetimeMS = tc.MaxLifetime, msString(tc.MaxLifetime)
		if s.lifetime > 0 {
			slotTags() // made now rather than by a request
		}
	}
	if tc.MaxLifetime > 0 {
		s.keyTTL = min(s.keyTTL, tc.MaxLifetime)
	}
	s.keyTTLMS = msString(s.keyTTL)
	s.maxKeyTTL = max(s.keyTTL, s.extendTTL)
	// A client that could not connect yet makes the store start in an outage
	// (reported once), to be probed after the backoff.
	start := monotonic()
	if _, err := s.client.connect(); err != nil {
		s.failed(start, err)
	}
	return s, nil
}

// key returns the Redis key of session id.
func (s *Store) key(id string) string { return s.prefix + id }

// lifetimeKey returns the Redis key that keeps the lifetime of session id:
// its key with a hash tag in front that puts it in the same Cluster slot (a
// script may touch both), and that no SCAN of the store's keys matches.
func (s *Store) lifetimeKey(id string) string {
	key := s.key(id)
	return "{" + slotTags()[slotOf(key)] + "}" + key
}

// keys are the keys of session id that the binding scripts touch.
func (s *Store) keys(id string) []string {
	if s.lifetime > 0 {
		return []string{s.key(id), s.lifetimeKey(id)}
	}
	return []string{s.key(id)}
}

// Lookup returns the upstream bound to id: from this node's cache of Redis
// (no round trip), else from Redis, else, while Redis is unreachable, from
// the local table. With sliding expiry, a use extends the session's timeout
// in Redis when less than the idle timeout is left (see CacheTTL).
func (s *Store) Lookup(id string) (string, bool) {
	conn, start, ok := s.redis()
	if !ok {
		return s.local.Lookup(id)
	}
	ctx := newDeadline(s.cmdTimeout)
	defer ctx.stop()
	key := s.key(id)
	sent := time.Now()
	resp := conn.DoCache(ctx, conn.B().Get().Key(key).Cache(), s.maxKeyTTL)
	up, err := resp.ToString()
	switch {
	case rueidis.IsRedisNil(err):
		s.health.answered(start)
		// Redis does not know a session this node knows: it was bound while
		// Redis was unreachable, or Redis lost it. Share it, with what is left
		// of its timeout; if another node shared it first, follow that node.
		if si, ok := s.local.Get(id); ok {
			if left := time.Until(si.Expires); left >= time.Millisecond {
				life := s.lifetimeMS
				if s.lifetime > 0 {
					life = msString(time.Until(si.Created.Add(s.lifetime)))
				}
				if bound, _, err := s.run(ctx, conn, start, sent, bindScript, id, si.Upstream, msString(left), life); err == nil {
					return bound, true
				}
				return s.local.Lookup(id)
			}
		}
		return "", false
	case err != nil:
		s.failed(start, err)
		return s.local.Lookup(id)
	}
	s.health.answered(start)
	if up == "" { // deleted through the admin API on some node
		_, _ = s.local.Forget(id)
		return "", false
	}
	// The cache's expiry is Redis's, counted from when the answer was read:
	// take off the time the answer took, so that the local copy never
	// outlives the key (it would be written back).
	expires := sent.Add(s.keyTTL)
	if at := resp.CachePXAT(); at > 0 {
		expires = time.UnixMilli(at).Add(-time.Since(sent))
	}
	if cur, ok := s.local.Lookup(id); !ok || cur != up {
		s.local.Adopt(id, up, s.created(ctx, conn, start, id, expires))
	}
	if s.sliding && time.Until(expires) < s.timeout {
		s.extend(ctx, conn, start, id, expires)
	}
	return up, true
}

// created tells when the session id, bound in Redis until expires, was
// first bound, for this node's copy: counted back from its lifetime key's
// remaining time with max_lifetime (which costs a round trip, once per
// session and node), else from expires as a new binding's. Counted from
// before the question, it errs early by the round trip, so that the copy does
// not outlive the session in Redis, but for Redis's own clock: Redis answers
// in whole ms, from a time it reads once per turn of its event loop, which a
// busy server may leave a few ms behind.
func (s *Store) created(ctx context.Context, conn rueidis.Client, start int64, id string, expires time.Time) time.Time {
	if s.lifetime == 0 {
		return expires.Add(-s.keyTTL)
	}
	sent := time.Now()
	left, err := conn.Do(ctx, conn.B().Pttl().Key(s.lifetimeKey(id)).Build()).AsInt64()
	if err != nil {
		s.failed(start, err)
	} else if left >= 0 {
		return sent.Add(time.Duration(left)*time.Millisecond - s.lifetime)
	}
	// No lifetime key (a binding made before max_lifetime was set, or Redis
	// failed): the session ends with its key.
	return expires.Add(-s.lifetime)
}

// extend gives the key of session id, which Redis expires at expires, the
// idle timeout plus the slack, but no more than its lifetime has left.
func (s *Store) extend(ctx context.Context, conn rueidis.Client, start int64, id string, expires time.Time) {
	ttl := s.extendTTL
	if s.lifetime > 0 {
		si, ok := s.local.Get(id)
		if !ok {
			return // no copy to tell the lifetime: the next use extends it
		}
		ttl = min(ttl, time.Until(si.Created.Add(s.lifetime)))
	}
	if ttl <= time.Until(expires) {
		return // at its lifetime already
	}
	if err := conn.Do(ctx, conn.B().Pexpire().Key(s.key(id)).Milliseconds(ttl.Milliseconds()).Build()).Error(); err != nil {
		s.failed(start, err)
	}
}

// Bind binds id to upstream unless Redis holds a binding already (the first
// node wins), in one round trip, and returns the session's upstream and
// whether this call made the binding.
func (s *Store) Bind(id, upstream string) (bound string, made bool) {
	if bound, made, err := s.exec(bindScript, id, upstream, s.keyTTLMS, s.lifetimeMS); err == nil {
		return bound, made
	}
	return s.local.Bind(id, upstream)
}

// Rebind moves id from `from` to `to` in Redis with a compare-and-set, so that
// nodes failing over at once agree on one upstream, and returns the session's
// upstream and whether this call moved it: a node that found the session
// moved by another, whose move Redis had not yet told it of, only follows.
func (s *Store) Rebind(id, from, to string) (bound string, moved bool) {
	slide := "0"
	if s.sliding {
		slide = "1"
	}
	if bound, moved, err := s.exec(rebindScript, id, from, to, s.keyTTLMS, slide, s.lifetimeMS); err == nil {
		return bound, moved
	}
	return s.local.Rebind(id, from, to)
}

// exec runs a binding script for id, unless Redis is being left alone.
func (s *Store) exec(script *rueidis.Lua, id string, args ...string) (bound string, made bool, err error) {
	conn, start, ok := s.redis()
	if !ok {
		return "", false, errBackingOff
	}
	ctx := newDeadline(s.cmdTimeout)
	defer ctx.stop()
	return s.run(ctx, conn, start, time.Now(), script, id, args...)
}

var errBackingOff = errors.New("redis is left alone after a failure")

// run runs a script that answers {binding, 1 if this call made it else 0,
// remaining ms[, lifetime's remaining ms]}, copies the binding into the local
// table, expiring no later than in Redis but for Redis's clock (counted from
// sent, the time the script was sent; see created), and returns the binding
// and whether the call made it.
func (s *Store) run(ctx context.Context, conn rueidis.Client, start int64, sent time.Time, script *rueidis.Lua, id string, args ...string) (bound string, made bool, err error) {
	keys := s.keys(id)
	reply, err := script.Exec(ctx, conn, keys, append(args, s.setsArg(conn))).ToArray()
	var flag, ms, life int64 = 0, 0, -1
	if want := len(keys) + 2; err == nil && len(reply) == want {
		bound, err = reply[0].ToString()
		if err == nil {
			flag, err = reply[1].AsInt64()
		}
		if err == nil {
			ms, err = reply[2].AsInt64()
		}
		if err == nil && len(reply) == 4 {
			life, err = reply[3].AsInt64()
		}
	} else if err == nil {
		err = fmt.Errorf("redis script answered %d values, want %d", len(reply), want)
	}
	if err != nil {
		s.failed(start, err)
		return "", false, err
	}
	s.health.answered(start)
	if ms < 0 {
		ms = s.keyTTL.Milliseconds()
	}
	created := sent.Add(time.Duration(ms)*time.Millisecond - s.keyTTL)
	if s.lifetime > 0 {
		if life < 0 { // no lifetime key: the session ends with its key
			life = ms
		}
		created = sent.Add(time.Duration(life)*time.Millisecond - s.lifetime)
	}
	s.local.Adopt(id, bound, created)
	return bound, flag == 1, nil
}

// redis returns the client to ask, and when the asking starts; false while
// Redis is left alone after a failure.
func (s *Store) redis() (rueidis.Client, int64, bool) {
	if !s.health.allow() {
		return nil, 0, false
	}
	start := monotonic()
	conn, err := s.client.connect()
	if err != nil {
		s.failed(start, err)
		return nil, 0, false
	}
	return conn, start, true
}

func (s *Store) failed(start int64, err error) {
	if s.onError != nil {
		s.onError(err)
	}
	s.health.failed(start, err)
}

func msString(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// Forget deletes session id in Redis, where a tombstone makes every node drop
// its copy (and Redis invalidates every node's cached binding), and in the
// local table. An error means Redis did not confirm: the session is deleted
// on this node only.
func (s *Store) Forget(id string) (bool, error) {
	here, _ := s.local.Forget(id) // a table cannot fail to
	n, err := s.forget(func(ctx context.Context, conn rueidis.Client) (int, error) {
		n, err := forgetScript.Exec(ctx, conn, []string{s.key(id)}, []string{"", s.timeoutMS, s.setsArg(conn)}).AsInt64()
		return int(n), err
	})
	return here || n > 0, err
}

// ForgetUpstream deletes every session bound to upstream, in Redis and in the
// local table, and returns how many went.
func (s *Store) ForgetUpstream(upstream string) (int, error) {
	here, _ := s.local.ForgetUpstream(upstream)
	n, err := s.forget(func(ctx context.Context, conn rueidis.Client) (int, error) {
		return s.forgetEach(ctx, conn, upstream)
	})
	return max(here, n), err
}

// ForgetAll deletes every session of the store, in Redis and in the local
// table, and returns how many went.
func (s *Store) ForgetAll() (int, error) {
	here, _ := s.local.ForgetAll()
	n, err := s.forget(func(ctx context.Context, conn rueidis.Client) (int, error) {
		return s.forgetEach(ctx, conn, "")
	})
	return max(here, n), err
}

// forget runs an admin deletion on Redis, even while requests leave it alone.
func (s *Store) forget(del func(context.Context, rueidis.Client) (int, error)) (int, error) {
	start := monotonic()
	conn, err := s.client.connect()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		var n int
		if n, err = del(ctx, conn); err == nil {
			s.health.answered(start)
			return n, nil
		}
	}
	s.failed(start, err)
	return 0, fmt.Errorf("redis did not confirm the deletion, so other nodes may still route the sessions: %w", err)
}

// forgetEach scans every node for the store's keys and tombstones those bound
// to upstream ("": any), in pipelined batches.
func (s *Store) forgetEach(ctx context.Context, conn rueidis.Client, upstream string) (int, error) {
	pattern := globEscaper.Replace(s.prefix) + "*"
	sets := s.setsArg(conn)
	n := 0
	for _, node := range conn.Nodes() {
		var cursor uint64
		for {
			page, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return n, err
			}
			execs := make([]rueidis.LuaExec, len(page.Elements))
			for i, key := range page.Elements {
				execs[i] = rueidis.LuaExec{Keys: []string{key}, Args: []string{upstream, s.timeoutMS, sets}}
			}
			for _, r := range forgetScript.ExecMulti(ctx, conn, execs...) {
				done, err := r.AsInt64()
				if err != nil {
					return n, err
				}
				n += int(done)
			}
			if cursor = page.Cursor; cursor == 0 {
				break
			}
		}
	}
	return n, nil
}

// globEscaper escapes the characters SCAN's MATCH pattern gives a meaning.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// Interface guard
var _ sessionaffinity.Store = (*Store)(nil)
