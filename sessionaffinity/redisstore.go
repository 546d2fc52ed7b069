package sessionaffinity

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of a RedisStore.
const (
	DefaultRedisCommandTimeout = 100 * time.Millisecond
	DefaultRedisBackoff        = time.Second
	DefaultRedisCacheTTL       = time.Second
)

// RedisStoreConfig configures a RedisStore.
type RedisStoreConfig struct {
	// Client talks to Redis: one node, Sentinel or Cluster. The store does not
	// close it, so that one client can outlive the stores of successive configs.
	// It must have ContextTimeoutEnabled, or CommandTimeout does not hold.
	Client redis.UniversalClient
	// KeyPrefix goes before each session id to make its Redis key.
	KeyPrefix string
	// Local is this node's table. Its Timeout and Expiry are the sessions'. It
	// holds every binding this node has used, and serves alone while Redis is
	// unreachable.
	Local *Table
	// CommandTimeout bounds each Redis command. Default: 100ms.
	CommandTimeout time.Duration
	// Backoff is how long Redis is left alone after a failed command; then one
	// request tries it again while the others keep to the local table.
	// Default: 1s.
	Backoff time.Duration
	// CacheTTL is how long a binding Redis gave is used without asking again.
	// It must be shorter than the session timeout. Default: 1s.
	CacheTTL time.Duration
	// OnError, if set, is called for every failed Redis command.
	OnError func(err error)
	// OnDown, if set, is called when Redis starts failing (once per outage),
	// and OnUp when it answers again.
	OnDown func(err error)
	OnUp   func()
}

// RedisStore keeps session bindings in Redis, so that several Caddy nodes send
// a session to the same upstream. The first node to bind a session wins
// (SET NX with the session timeout) and the others follow; a rebind replaces
// the binding only while it still names the failed upstream. A binding read
// from Redis is trusted for CacheTTL, so a session's requests cost at most one
// round trip per CacheTTL. When Redis fails or is slow, the store serves from
// its local table and never fails a request; bindings made meanwhile are
// shared when Redis answers again.
type RedisStore struct {
	client  redis.UniversalClient
	prefix  string
	local   *Table
	recent  *Table // bindings Redis gave less than CacheTTL ago
	timeout time.Duration
	timeMS  string // the session timeout in milliseconds, for the scripts
	sliding bool

	cmdTimeout time.Duration
	backoff    time.Duration
	onError    func(error)
	onDown     func(error)
	onUp       func()

	retryAt atomic.Int64 // unix nanoseconds; 0 while Redis answers
	down    atomic.Bool  // an outage has been reported and not ended
}

// NewRedisStore makes a store on cfg.Client in front of cfg.Local.
func NewRedisStore(cfg RedisStoreConfig) (*RedisStore, error) {
	if cfg.Client == nil || cfg.Local == nil {
		return nil, errors.New("redis store needs a client and a local table")
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = DefaultRedisCommandTimeout
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultRedisBackoff
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultRedisCacheTTL
	}
	tc := cfg.Local.Config()
	switch {
	case cfg.CommandTimeout < 0:
		return nil, fmt.Errorf("redis command timeout must be positive, got %s", cfg.CommandTimeout)
	case cfg.Backoff < 0:
		return nil, fmt.Errorf("redis backoff must be positive, got %s", cfg.Backoff)
	case tc.Timeout < time.Millisecond:
		return nil, fmt.Errorf("a session timeout kept in redis must be at least 1ms, got %s", tc.Timeout)
	case cfg.CacheTTL < 0 || cfg.CacheTTL >= tc.Timeout:
		return nil, fmt.Errorf("redis cache ttl must be positive and shorter than the session timeout %s, got %s", tc.Timeout, cfg.CacheTTL)
	}
	recent, err := NewTable(TableConfig{MaxSessions: tc.MaxSessions, Timeout: cfg.CacheTTL, Expiry: ExpiryFixed})
	if err != nil {
		return nil, err
	}
	return &RedisStore{
		client:     cfg.Client,
		prefix:     cfg.KeyPrefix,
		local:      cfg.Local,
		recent:     recent,
		timeout:    tc.Timeout,
		timeMS:     strconv.FormatInt(tc.Timeout.Milliseconds(), 10),
		sliding:    tc.Expiry != ExpiryFixed,
		cmdTimeout: cfg.CommandTimeout,
		backoff:    cfg.Backoff,
		onError:    cfg.OnError,
		onDown:     cfg.OnDown,
		onUp:       cfg.OnUp,
	}, nil
}

// Close stops the store's cache. It does not close the Redis client.
func (s *RedisStore) Close() { s.recent.Close() }

// Key returns the Redis key of session id.
func (s *RedisStore) Key(id string) string { return s.prefix + id }

// Lookup returns the upstream bound to id: from the cache, else from Redis in
// one round trip (GETEX, which also slides the timeout), else, while Redis is
// unreachable, from the local table.
func (s *RedisStore) Lookup(id string) (string, bool) {
	if up, ok := s.recent.Lookup(id); ok {
		s.local.Lookup(id) // keeps the local copy alive and counts the request
		return up, true
	}
	if !s.useRedis() {
		return s.local.Lookup(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cmdTimeout)
	defer cancel()
	var cmd *redis.StringCmd
	if s.sliding {
		cmd = s.client.GetEx(ctx, s.Key(id), s.timeout)
	} else {
		cmd = s.client.Get(ctx, s.Key(id))
	}
	up, err := cmd.Result()
	switch {
	case err == nil:
		s.answered()
		if cur, ok := s.local.Lookup(id); !ok || cur != up {
			setBinding(s.local, id, up)
		}
		setBinding(s.recent, id, up)
		return up, true
	case errors.Is(err, redis.Nil):
		s.answered()
		// Redis does not know a session this node knows: it was bound while
		// Redis was unreachable, or Redis lost it. Share it; if another node
		// shared the same session first, follow that node.
		if up, ok := s.local.Lookup(id); ok {
			return s.Bind(id, up), true
		}
		return "", false
	default:
		s.failed(err)
		return s.local.Lookup(id)
	}
}

// bindScript binds KEYS[1] to ARGV[1] for ARGV[2] ms unless it is bound, and
// returns the binding. An existing binding's timeout slides if ARGV[3] is 1.
var bindScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
	if ARGV[3] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
	return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`)

// Bind binds id to upstream unless Redis holds a binding already (the first
// node wins), in one round trip, and returns the session's upstream.
func (s *RedisStore) Bind(id, upstream string) string {
	if !s.useRedis() {
		return s.local.Bind(id, upstream)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cmdTimeout)
	defer cancel()
	bound, err := bindScript.Run(ctx, s.client, []string{s.Key(id)}, upstream, s.timeMS, s.slide()).Text()
	if err != nil {
		s.failed(err)
		return s.local.Bind(id, upstream)
	}
	s.answered()
	s.remember(id, bound)
	return bound
}

// rebindScript moves KEYS[1] from ARGV[1] to ARGV[2] only while it is bound to
// ARGV[1], or binds it to ARGV[2] if it is not bound, and returns the binding.
// The timeout (ARGV[3] ms) restarts if ARGV[4] is 1, else it is kept.
var rebindScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
if cur and ARGV[4] ~= '1' then
	redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return ARGV[2]
`)

// Rebind moves id from `from` to `to` in Redis with a compare-and-set, so that
// nodes failing over at once agree on one upstream, and returns the session's
// upstream.
func (s *RedisStore) Rebind(id, from, to string) string {
	if !s.useRedis() {
		return s.local.Rebind(id, from, to)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cmdTimeout)
	defer cancel()
	bound, err := rebindScript.Run(ctx, s.client, []string{s.Key(id)}, from, to, s.timeMS, s.slide()).Text()
	if err != nil {
		s.failed(err)
		return s.local.Rebind(id, from, to)
	}
	s.answered()
	s.remember(id, bound)
	return bound
}

// Forget deletes id from Redis and from this node's table and cache. While
// Redis is unreachable only the local copy goes, and the error says so.
func (s *RedisStore) Forget(id string) (bool, error) {
	found := s.local.Delete(id)
	s.recent.Delete(id)
	if !s.useRedis() {
		return found, errors.New("redis unreachable: session forgotten on this node only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cmdTimeout)
	defer cancel()
	n, err := s.client.Del(ctx, s.Key(id)).Result()
	if err != nil {
		s.failed(err)
		return found, err
	}
	s.answered()
	return found || n > 0, nil
}

func (s *RedisStore) slide() string {
	if s.sliding {
		return "1"
	}
	return "0"
}

// remember copies a binding Redis gave into the local table and the cache.
func (s *RedisStore) remember(id, upstream string) {
	setBinding(s.local, id, upstream)
	setBinding(s.recent, id, upstream)
}

// setBinding makes t bind id to upstream.
func setBinding(t *Table, id, upstream string) {
	if cur := t.Bind(id, upstream); cur != upstream {
		t.Rebind(id, cur, upstream)
	}
}

// useRedis reports whether to ask Redis. After a failure it says no until the
// backoff has passed; then it says yes to one caller, which probes Redis,
// while the others wait another backoff.
func (s *RedisStore) useRedis() bool {
	at := s.retryAt.Load()
	if at == 0 {
		return true
	}
	now := time.Now().UnixNano()
	return now >= at && s.retryAt.CompareAndSwap(at, now+int64(s.backoff))
}

func (s *RedisStore) failed(err error) {
	s.retryAt.Store(time.Now().Add(s.backoff).UnixNano())
	if s.onError != nil {
		s.onError(err)
	}
	if s.down.CompareAndSwap(false, true) && s.onDown != nil {
		s.onDown(err)
	}
}

func (s *RedisStore) answered() {
	if s.retryAt.Load() != 0 {
		s.retryAt.Store(0)
	}
	if s.down.Load() && s.down.CompareAndSwap(true, false) && s.onUp != nil {
		s.onUp()
	}
}
