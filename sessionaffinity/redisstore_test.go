package sessionaffinity

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// outage records what a store reported about Redis.
type outage struct {
	errors, downs, ups atomic.Int64
}

// newTestRedisStore makes a store with its own client and local table, as one
// Caddy node has. cfg's Client and Local are filled in.
func newTestRedisStore(t testing.TB, addr string, table TableConfig, cfg RedisStoreConfig) (*RedisStore, *outage) {
	t.Helper()
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	cfg.Client = client
	cfg.Local = newTestTable(t, table)
	o := &outage{}
	cfg.OnError = func(error) { o.errors.Add(1) }
	cfg.OnDown = func(error) { o.downs.Add(1) }
	cfg.OnUp = func() { o.ups.Add(1) }
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "test:"
	}
	s, err := NewRedisStore(cfg)
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	t.Cleanup(s.Close)
	return s, o
}

var twoMinutes = TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}

func TestRedisStoreConfigErrors(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}})
	defer client.Close()
	local := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Second})
	for _, cfg := range []RedisStoreConfig{
		{Local: local},
		{Client: client},
		{Client: client, Local: local, CacheTTL: time.Second},
		{Client: client, Local: local, CacheTTL: -time.Millisecond},
		{Client: client, Local: local, CommandTimeout: -time.Millisecond},
		{Client: client, Local: local, Backoff: -time.Millisecond},
	} {
		if _, err := NewRedisStore(cfg); err == nil {
			t.Errorf("NewRedisStore(%+v) accepted", cfg)
		}
	}
	short := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Microsecond})
	if _, err := NewRedisStore(RedisStoreConfig{Client: client, Local: short}); err == nil {
		t.Error("a sub-millisecond session timeout was accepted")
	}
}

func TestRedisStoreFirstBinderWins(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedisStore(t, srv.Addr, twoMinutes, RedisStoreConfig{})
	b, _ := newTestRedisStore(t, srv.Addr, twoMinutes, RedisStoreConfig{})

	if up, ok := b.Lookup("s1"); ok {
		t.Fatalf("unknown session found: %q", up)
	}
	if got := srv.Get("test:s1"); got != "" {
		t.Fatalf("a lookup miss wrote %q", got)
	}
	if got := a.Bind("s1", "u1"); got != "u1" {
		t.Fatalf("first Bind = %q, want u1", got)
	}
	if got := b.Bind("s1", "u2"); got != "u1" {
		t.Fatalf("second node's Bind = %q, want the first node's u1", got)
	}
	if up, ok := b.Lookup("s1"); !ok || up != "u1" {
		t.Fatalf("second node's Lookup = %q, %v; want u1", up, ok)
	}
	if got := srv.Get("test:s1"); got != "u1" {
		t.Fatalf("redis holds %q, want u1", got)
	}
	if ttl := srv.PTTL("test:s1"); ttl < time.Minute || ttl > 2*time.Minute {
		t.Fatalf("redis ttl %s, want about the session timeout 2m", ttl)
	}
	if got, ok := b.local.Get("s1"); !ok || got.Upstream != "u1" {
		t.Fatalf("second node's local table has %+v, want u1", got)
	}
}

func TestRedisStoreConcurrentBindAgrees(t *testing.T) {
	srv := redistest.Start(t)
	nodes := make([]*RedisStore, 3)
	for i := range nodes {
		nodes[i], _ = newTestRedisStore(t, srv.Addr, twoMinutes, RedisStoreConfig{})
	}
	for round := range 20 {
		id := "race-" + strconv.Itoa(round)
		var wg sync.WaitGroup
		got := make([]string, 3*len(nodes))
		for i := range got {
			wg.Go(func() {
				got[i] = nodes[i%len(nodes)].Bind(id, "u"+strconv.Itoa(i))
			})
		}
		wg.Wait()
		for _, g := range got {
			if g != got[0] {
				t.Fatalf("%s: concurrent binds disagree: %q", id, got)
			}
		}
		if stored := srv.Get("test:" + id); stored != got[0] {
			t.Fatalf("%s: redis holds %q, binders got %q", id, stored, got[0])
		}
	}
}

func TestRedisStoreRebindCompareAndSet(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newTestRedisStore(t, srv.Addr, twoMinutes, RedisStoreConfig{})
	b, _ := newTestRedisStore(t, srv.Addr, twoMinutes, RedisStoreConfig{})
	a.Bind("s", "u1")
	b.Lookup("s")

	// Both nodes see u1 fail; b fails over first, a must follow b.
	if got := b.Rebind("s", "u1", "u2"); got != "u2" {
		t.Fatalf("b.Rebind = %q, want u2", got)
	}
	if got := a.Rebind("s", "u1", "u3"); got != "u2" {
		t.Fatalf("a.Rebind from the old upstream = %q, want b's u2", got)
	}
	if got := srv.Get("test:s"); got != "u2" {
		t.Fatalf("redis holds %q, want u2", got)
	}
	if up, ok := a.Lookup("s"); !ok || up != "u2" {
		t.Fatalf("a.Lookup = %q, %v; want u2", up, ok)
	}
	// A session Redis does not hold is bound by a rebind.
	if got := a.Rebind("gone", "u1", "u3"); got != "u3" || srv.Get("test:gone") != "u3" {
		t.Fatalf("Rebind of an unknown session = %q, redis %q; want u3", got, srv.Get("test:gone"))
	}
}

func TestRedisStoreFailoverSeenByOtherNodeAfterCache(t *testing.T) {
	srv := redistest.Start(t)
	cfg := RedisStoreConfig{CacheTTL: 100 * time.Millisecond}
	a, _ := newTestRedisStore(t, srv.Addr, twoMinutes, cfg)
	b, _ := newTestRedisStore(t, srv.Addr, twoMinutes, cfg)
	a.Bind("s", "u1")
	if up, _ := b.Lookup("s"); up != "u1" {
		t.Fatalf("b sees %q, want u1", up)
	}
	a.Rebind("s", "u1", "u2")
	eventually(t, time.Second, "b to see a's failover", func() bool {
		up, _ := b.Lookup("s")
		return up == "u2"
	})
}

func TestRedisStoreExpiry(t *testing.T) {
	srv := redistest.Start(t)
	for _, expiry := range []Expiry{ExpirySliding, ExpiryFixed} {
		t.Run(string(expiry), func(t *testing.T) {
			table := TableConfig{MaxSessions: 100, Timeout: 10 * time.Second, Expiry: expiry}
			cfg := RedisStoreConfig{KeyPrefix: string(expiry) + ":", CacheTTL: time.Millisecond}
			a, _ := newTestRedisStore(t, srv.Addr, table, cfg)
			b, _ := newTestRedisStore(t, srv.Addr, table, cfg)
			key := a.Key("s")
			a.Bind("s", "u1")
			time.Sleep(1500 * time.Millisecond)
			before := srv.PTTL(key)
			if up, ok := b.Lookup("s"); !ok || up != "u1" {
				t.Fatalf("Lookup = %q, %v", up, ok)
			}
			after := srv.PTTL(key)
			if slid := after > 9*time.Second; slid != (expiry == ExpirySliding) {
				t.Fatalf("ttl %s before a lookup, %s after: want it restarted only when sliding", before, after)
			}
			b.Rebind("s", "u1", "u2")
			if ttl := srv.PTTL(key); (ttl > 9*time.Second) != (expiry == ExpirySliding) {
				t.Fatalf("ttl %s after a rebind: want it restarted only when sliding", ttl)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		table := TableConfig{MaxSessions: 100, Timeout: 300 * time.Millisecond}
		a, _ := newTestRedisStore(t, srv.Addr, table, RedisStoreConfig{KeyPrefix: "short:", CacheTTL: time.Millisecond})
		a.Bind("s", "u1")
		eventually(t, 2*time.Second, "redis to expire the session", func() bool { return srv.Get(a.Key("s")) == "" })
	})
}

func TestRedisStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	cfg := RedisStoreConfig{CacheTTL: time.Millisecond, Backoff: 200 * time.Millisecond}
	a, out := newTestRedisStore(t, srv.Addr, twoMinutes, cfg)
	a.Bind("known", "u1")

	srv.Stop()
	for i := range 50 {
		start := time.Now()
		if up, ok := a.Lookup("known"); !ok || up != "u1" {
			t.Fatalf("during the outage Lookup = %q, %v; want the local u1", up, ok)
		}
		if got := a.Bind("new-"+strconv.Itoa(i), "u2"); got != "u2" {
			t.Fatalf("during the outage Bind = %q", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a request waited %s while redis was down", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out.downs.Load() != 1 || out.errors.Load() < 1 || out.ups.Load() != 0 {
		t.Fatalf("downs %d, errors %d, ups %d: want one outage reported, errors counted",
			out.downs.Load(), out.errors.Load(), out.ups.Load())
	}
	// The backoff keeps most requests away from the dead Redis.
	if e := out.errors.Load(); e > 10 {
		t.Fatalf("%d failed redis commands in 100 requests over ~0.5s; the backoff should keep it to a few", e)
	}

	srv.Restart() // empty: it lost everything
	eventually(t, 5*time.Second, "redis to be used again", func() bool {
		a.Lookup("known")
		return out.ups.Load() == 1
	})
	// Sessions bound during the outage are shared when they are next used.
	if up, ok := a.Lookup("new-7"); !ok || up != "u2" || srv.Get(a.Key("new-7")) != "u2" {
		t.Fatalf("after the outage Lookup = %q, %v, redis %q; want u2 shared", up, ok, srv.Get(a.Key("new-7")))
	}
	if srv.Get(a.Key("known")) != "u1" {
		t.Fatalf("the known session was not shared again: redis %q", srv.Get(a.Key("known")))
	}
	if out.downs.Load() != 1 {
		t.Fatalf("%d outages reported, want 1", out.downs.Load())
	}
}

func TestRedisStoreSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	cfg := RedisStoreConfig{CacheTTL: time.Millisecond, CommandTimeout: 50 * time.Millisecond, Backoff: time.Hour}
	a, out := newTestRedisStore(t, srv.Addr, twoMinutes, cfg)
	a.Bind("s", "u1")
	// DEBUG SLEEP blocks the server, as an overloaded Redis would.
	go srv.Do("DEBUG", "SLEEP", "1")
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if up, ok := a.Lookup("s"); !ok || up != "u1" {
		t.Fatalf("Lookup on a slow redis = %q, %v; want the local u1", up, ok)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Lookup waited %s for a slow redis; the command timeout is 50ms", d)
	}
	if out.downs.Load() != 1 {
		t.Fatalf("slow redis not reported: downs %d", out.downs.Load())
	}
}

// Benchmarks of the stores side by side: the in-memory table, and the Redis
// store on a real redis-server on loopback, with its cache (a session used in
// the last second) and without (every lookup a round trip). The command
// timeout is generous so that a busy machine measures Redis, not the fallback.

func BenchmarkStoreLookupHit(b *testing.B) {
	srv := redistest.Start(b)
	table := TableConfig{MaxSessions: 10000, Timeout: time.Hour}
	stores := []struct {
		name  string
		store func(b *testing.B) (Store, *outage)
	}{
		{"memory", func(b *testing.B) (Store, *outage) { return newTestTable(b, table), &outage{} }},
		{"redis_cached", func(b *testing.B) (Store, *outage) {
			return newTestRedisStore(b, srv.Addr, table, RedisStoreConfig{KeyPrefix: "cached:", CacheTTL: time.Minute, CommandTimeout: 5 * time.Second})
		}},
		{"redis_uncached", func(b *testing.B) (Store, *outage) {
			return newTestRedisStore(b, srv.Addr, table, RedisStoreConfig{KeyPrefix: "uncached:", CacheTTL: time.Nanosecond, CommandTimeout: 5 * time.Second})
		}},
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			s, out := sc.store(b)
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = fmt.Sprintf("session-%d", i)
				s.Bind(ids[i], "upstream-1")
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, ok := s.Lookup(ids[i%len(ids)]); !ok {
					b.Fatal("miss")
				}
			}
			if out.errors.Load() != 0 {
				b.Fatalf("%d redis errors", out.errors.Load())
			}
		})
	}
}

func BenchmarkStoreBind(b *testing.B) {
	srv := redistest.Start(b)
	table := TableConfig{MaxSessions: 1 << 20, Timeout: time.Hour}
	b.Run("memory", func(b *testing.B) {
		s := newTestTable(b, table)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Bind("bind-"+strconv.Itoa(i), "upstream-1")
		}
	})
	b.Run("redis", func(b *testing.B) {
		s, out := newTestRedisStore(b, srv.Addr, table, RedisStoreConfig{CommandTimeout: 5 * time.Second})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Bind("bind-"+strconv.Itoa(i), "upstream-1")
		}
		if out.errors.Load() != 0 {
			b.Fatalf("%d redis errors", out.errors.Load())
		}
	})
}
