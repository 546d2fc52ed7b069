package redisstore

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// outage records what a store reported about Redis.
type outage struct {
	errors, downs, ups atomic.Int64
}

// node is one Caddy node's view: its own client, local table and store.
type node struct {
	*Store
	out *outage
}

// newNode makes a store with its own client and local table, as one Caddy
// node has, on the Redis at addrs (with opts' other fields).
func newNode(t testing.TB, opts ClientOptions, table sessionaffinity.TableConfig, cfg Config) node {
	t.Helper()
	client, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	local, err := sessionaffinity.NewTable(table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	cfg.Client, cfg.Local = client, local
	o := &outage{}
	cfg.OnError = func(err error) {
		if o.errors.Add(1) == 1 {
			t.Logf("first redis error: %v", err)
		}
	}
	cfg.OnDown = func(error) { o.downs.Add(1) }
	cfg.OnUp = func() { o.ups.Add(1) }
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "test:"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return node{s, o}
}

// on is the ClientOptions of one plain server.
func on(srv *redistest.Server) ClientOptions { return ClientOptions{Addresses: []string{srv.Addr}} }

var twoMinutes = sessionaffinity.TableConfig{MaxSessions: 100_000, Timeout: 2 * time.Minute}

// requireShared binds id to u1 on a and checks that Redis and b hold it,
// whatever b bids.
func requireShared(t *testing.T, srv *redistest.Server, a, b node, id string) {
	t.Helper()
	if got, made := a.Bind(id, "u1"); got != "u1" || !made {
		t.Fatalf("first Bind = %q, %v; want u1, made", got, made)
	}
	if got, made := b.Bind(id, "u2"); got != "u1" || made {
		t.Fatalf("second node's Bind = %q, %v; want the first node's u1, not made", got, made)
	}
	// A second node that bids what the first bound follows it too: the
	// binding is the first node's (placement hash makes both bid alike).
	if got, made := b.Bind(id, "u1"); got != "u1" || made {
		t.Fatalf("second node's Bind of the same upstream = %q, %v; want u1, not made", got, made)
	}
	if up, ok := b.Lookup(id); !ok || up != "u1" {
		t.Fatalf("second node's Lookup = %q, %v; want u1", up, ok)
	}
	if got := srv.Get(a.key(id)); got != "u1" {
		t.Fatalf("redis holds %q, want u1", got)
	}
}

func TestConfigErrors(t *testing.T) {
	srv := redistest.Start(t)
	client, err := NewClient(on(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	local, _ := sessionaffinity.NewTable(sessionaffinity.TableConfig{MaxSessions: 10, Timeout: time.Second})
	for _, cfg := range []Config{
		{Local: local},
		{Client: client},
		{Client: client, Local: local, CacheTTL: time.Second},
		{Client: client, Local: local, CacheTTL: -time.Millisecond},
		{Client: client, Local: local, CommandTimeout: -time.Millisecond},
		{Client: client, Local: local, Backoff: -time.Millisecond},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	short, _ := sessionaffinity.NewTable(sessionaffinity.TableConfig{MaxSessions: 10, Timeout: time.Microsecond})
	if _, err := New(Config{Client: client, Local: short}); err == nil {
		t.Error("a sub-millisecond session timeout was accepted")
	}
	if _, err := NewClient(ClientOptions{}); err == nil {
		t.Error("a client without an address was accepted")
	}
}

func TestFirstBinderWins(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, on(srv), twoMinutes, Config{}), newNode(t, on(srv), twoMinutes, Config{})

	if up, ok := b.Lookup("s1"); ok {
		t.Fatalf("unknown session found: %q", up)
	}
	if got := srv.Get("test:s1"); got != "" {
		t.Fatalf("a lookup miss wrote %q", got)
	}
	// b looked s1 up (and cached "no binding") before a binds it.
	requireShared(t, srv, a, b, "s1")
	if ttl := srv.PTTL("test:s1"); ttl < 2*time.Minute || ttl > 3*time.Minute {
		t.Fatalf("redis ttl %s, want about the session timeout 2m plus the slack 1m", ttl)
	}
	if got, ok := b.local.Get("s1"); !ok || got.Upstream != "u1" {
		t.Fatalf("second node's local table has %+v, want u1", got)
	}
}

// TestBurstAgrees is goal 1 on the store: 1,000 concurrent first requests for
// 500 sessions over three nodes, each binding its own choice: every session
// ends with one upstream on every node, and no command fails.
func TestBurstAgrees(t *testing.T) {
	srv := redistest.Start(t)
	// The race detector slows 1,000 goroutines down past the 1s default
	// timeout; the end-to-end test measures the default on real nodes.
	cfg := Config{CommandTimeout: 20 * time.Second}
	nodes := []node{newNode(t, on(srv), twoMinutes, cfg), newNode(t, on(srv), twoMinutes, cfg), newNode(t, on(srv), twoMinutes, cfg)}
	const sessions, requests = 500, 1000
	got := make([]string, requests)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			n, id := nodes[i%len(nodes)], "burst-"+strconv.Itoa(i%sessions)
			<-release
			if up, ok := n.Lookup(id); ok {
				got[i] = up
				return
			}
			got[i], _ = n.Bind(id, "u"+strconv.Itoa(i%3))
		})
	}
	close(release)
	wg.Wait()
	split := 0
	for i := range sessions {
		id := "burst-" + strconv.Itoa(i)
		want := srv.Get("test:" + id)
		for j := i; j < requests; j += sessions {
			if got[j] != want {
				split++
			}
		}
		for k, n := range nodes {
			if up, ok := n.Lookup(id); !ok || up != want {
				t.Errorf("%s: node %d says %q, redis %q", id, k, up, want)
			}
		}
	}
	for k, n := range nodes {
		if e := n.out.errors.Load(); e != 0 {
			t.Errorf("node %d: %d redis errors with a healthy redis", k, e)
		}
	}
	if split != 0 {
		t.Fatalf("%d of %d first requests got another upstream than redis holds", split, requests)
	}
}

func TestRebindCompareAndSet(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, on(srv), twoMinutes, Config{}), newNode(t, on(srv), twoMinutes, Config{})
	a.Bind("s", "u1")
	b.Lookup("s")

	// Both nodes see u1 fail; b fails over first, a must follow b.
	if got, moved := b.Rebind("s", "u1", "u2"); got != "u2" || !moved {
		t.Fatalf("b.Rebind = %q, %v; want u2, moved", got, moved)
	}
	if got, moved := a.Rebind("s", "u1", "u3"); got != "u2" || moved {
		t.Fatalf("a.Rebind from the old upstream = %q, %v; want b's u2, not moved", got, moved)
	}
	// a chose u2 too (placement hash): it finds b's move and follows it,
	// which is no move of its own.
	if got, moved := a.Rebind("s", "u1", "u2"); got != "u2" || moved {
		t.Fatalf("a.Rebind to where b moved it = %q, %v; want u2, not moved", got, moved)
	}
	if got := srv.Get("test:s"); got != "u2" {
		t.Fatalf("redis holds %q, want u2", got)
	}
	if up, ok := a.Lookup("s"); !ok || up != "u2" {
		t.Fatalf("a.Lookup = %q, %v; want u2", up, ok)
	}
	// A session Redis does not hold is bound by a rebind.
	if got, moved := a.Rebind("gone", "u1", "u3"); got != "u3" || !moved || srv.Get("test:gone") != "u3" {
		t.Fatalf("Rebind of an unknown session = %q, %v, redis %q; want u3, moved", got, moved, srv.Get("test:gone"))
	}
}

// TestFailoverSeenAtOnce is goal 2 on the store: b has cached 100 sessions;
// Redis pushes the invalidation of each to b before it answers a's rebind, so
// b's lookups follow a's failover as soon as b has read that push (no
// cache_ttl to wait out). The end-to-end test, where a request reaches b
// after a's response, measures "at once".
func TestFailoverSeenAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, on(srv), twoMinutes, Config{}), newNode(t, on(srv), twoMinutes, Config{})
	var worst time.Duration
	for i := range 100 {
		id := "f-" + strconv.Itoa(i)
		a.Bind(id, "u1")
		for range 2 { // the second lookup is served from b's cache
			if up, _ := b.Lookup(id); up != "u1" {
				t.Fatalf("b sees %q, want u1", up)
			}
		}
		if got, moved := a.Rebind(id, "u1", "u2"); got != "u2" || !moved {
			t.Fatalf("a.Rebind = %q, %v", got, moved)
		}
		start := time.Now()
		// Without the push, b would keep its cached u1 for minutes (as long
		// as the key lives); a second is far from that, and leaves a busy
		// machine time to run b's reader of the push.
		redistest.Eventually(t, time.Second, "b to see a's failover", func() bool {
			up, _ := b.Lookup(id)
			return up == "u2"
		})
		worst = max(worst, time.Since(start))
	}
	t.Logf("b followed each failover within %s", worst)
}
