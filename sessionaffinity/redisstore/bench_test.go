package redisstore

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Benchmarks of the stores side by side: the in-memory table, and the Redis
// store on a real redis-server on loopback, with its client-side cache (a
// session this node has read and nobody changed since) and without it (every
// lookup a round trip). With expiry sliding a lookup extends a key with less
// than the session timeout left, once per slack (CacheTTL, here 5 minutes of
// the hour's timeout): a run shorter than that measures pure hits, as with
// expiry fixed. The command timeout is generous so that a busy machine
// measures Redis, not the fallback.

var benchTable = sessionaffinity.TableConfig{MaxSessions: 1 << 20, Timeout: time.Hour}

func BenchmarkStoreLookupHit(b *testing.B) {
	srv := redistest.Start(b)
	cfg := Config{CommandTimeout: 5 * time.Second}
	stores := []struct {
		name  string
		store func(b *testing.B) (sessionaffinity.Store, *outage)
	}{
		{"memory", func(b *testing.B) (sessionaffinity.Store, *outage) { return newBenchTable(b), &outage{} }},
		{"redis_cached", func(b *testing.B) (sessionaffinity.Store, *outage) {
			n := newNode(b, on(srv), benchTable, cfg)
			return n.Store, n.out
		}},
		{"redis_cached_fixed", func(b *testing.B) (sessionaffinity.Store, *outage) {
			fixed := benchTable
			fixed.Expiry = sessionaffinity.ExpiryFixed
			n := newNode(b, on(srv), fixed, cfg)
			return n.Store, n.out
		}},
		{"redis_uncached", func(b *testing.B) (sessionaffinity.Store, *outage) {
			n := newNode(b, on(srv), benchTable, cfg)
			n.client = &Client{opts: rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true}}
			b.Cleanup(n.client.Close)
			return n.Store, n.out
		}},
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			s, out := sc.store(b)
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s-%d", sc.name, i)
				s.Bind(ids[i], "upstream-1")
				s.Lookup(ids[i]) // fills the cache
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
	b.Run("memory", func(b *testing.B) {
		s := newBenchTable(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Bind("bind-"+strconv.Itoa(i), "upstream-1")
		}
	})
	// redis_counted keeps the per-upstream sets of exact counts, as Caddy
	// does on a single server or Sentinel; redis keeps none, as on a Cluster.
	for _, sc := range []struct{ name, sets string }{{"redis", ""}, {"redis_counted", "bench#sessions:"}} {
		b.Run(sc.name, func(b *testing.B) {
			n := newNode(b, on(srv), benchTable, Config{CommandTimeout: 5 * time.Second, CountSets: sc.sets})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				n.Bind(sc.name+"-"+strconv.Itoa(i), "upstream-1")
			}
			if n.out.errors.Load() != 0 {
				b.Fatalf("%d redis errors", n.out.errors.Load())
			}
		})
	}
}

func newBenchTable(b *testing.B) *sessionaffinity.Table {
	t, err := sessionaffinity.NewTable(benchTable)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(t.Close)
	return t
}
