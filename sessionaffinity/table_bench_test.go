package sessionaffinity

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTableMemory reports the heap a table holds per stored session with
// 1,000,000 and 10,000,000 sessions in use (bound, then used once more, so
// that they are in the kept tier): the record, the index and the id string
// itself, made while binding as a request's header value would be. Upstream
// keys are shared, as in the policy. The table is filled once; the timed loop
// then looks sessions up, so that the benchmark costs one fill however many
// iterations it runs.
func BenchmarkTableMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchmarkTableMemory(b, n) })
	}
}

func benchmarkTableMemory(b *testing.B, n int) {
	upstreams := []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}
	ids := make([]string, n) // the benchmark's, not the table's: made before measuring
	before := heapInUse()
	// Room for every session in the kept tier, however the shards fall.
	tab := newTestTable(b, TableConfig{MaxSessions: 2 * n, Timeout: time.Hour})
	for i := range ids {
		ids[i] = "client-" + strconv.Itoa(1_000_000+i)
		tab.Bind(ids[i], upstreams[i%len(upstreams)])
		tab.Lookup(ids[i])
	}
	held := heapInUse() - before
	if got := tab.Len(); got != n {
		b.Fatalf("Len() = %d after binding %d sessions", got, n)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Lookup(ids[i])
		if i++; i == n {
			i = 0
		}
	}
	// Reported after the loop, which resets metrics.
	b.ReportMetric(float64(held)/float64(tab.Len()), "heap-B/session")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkTableExpirySweep measures removing expired sessions: each iteration
// binds a batch (untimed), moves the table's clock past their timeout, and
// times the sweep that drops them.
func BenchmarkTableExpirySweep(b *testing.B) {
	const batch = 1000
	clock := new(manualClock)
	tab, err := newTable(TableConfig{MaxSessions: 4 * batch, Timeout: time.Minute}, clock)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tab.Close)
	ids := benchIDs()[:batch]
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, id := range ids {
			tab.Bind(id, "upstream-0")
		}
		tab.CleanUp()
		clock.now.Add(int64(2 * time.Minute))
		b.StartTimer()
		tab.CleanUp()
		b.StopTimer()
		if got := tab.Len(); got != 0 {
			b.Fatalf("Len() = %d after the sweep, want 0", got)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/session")
}

// benchIDs are shared by the benchmarks: building a million strings is slow.
var benchIDs = sync.OnceValue(func() []string {
	ids := make([]string, 1<<20)
	for i := range ids {
		ids[i] = fmt.Sprintf("client-%07d", i)
	}
	return ids
})

var benchFullTable = sync.OnceValue(func() *Table {
	tab, err := NewTable(TableConfig{MaxSessions: 2 << 20, Timeout: time.Hour})
	if err != nil {
		panic(err)
	}
	ids := benchIDs()
	for i, id := range ids[:1000000] {
		tab.Bind(id, "upstream-"+strconv.Itoa(i%3))
		tab.Lookup(id) // in use: kept, not on trial
	}
	tab.CleanUp()
	return tab
})

func BenchmarkTableLookupHit(b *testing.B) {
	tab := benchFullTable()
	ids := benchIDs()[:1000000]
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := tab.Lookup(ids[i]); !ok {
				b.Fatal("miss")
			}
			i++
			if i == len(ids) {
				i = 0
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919)) % len(ids)
			for pb.Next() {
				if _, ok := tab.Lookup(ids[i]); !ok {
					b.Error("miss")
					return
				}
				i++
				if i == len(ids) {
					i = 0
				}
			}
		})
	})
}

func BenchmarkTableBindMiss(b *testing.B) {
	ids := benchIDs()
	tab := newTestTable(b, TableConfig{MaxSessions: 4 << 20, Timeout: time.Hour})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i == len(ids) { // start over in a fresh table so that every Bind misses
			b.StopTimer()
			tab = newTestTable(b, TableConfig{MaxSessions: 4 << 20, Timeout: time.Hour})
			i = 0
			b.StartTimer()
		}
		tab.Bind(ids[i], "upstream-1")
	}
}

func BenchmarkTableRebind(b *testing.B) {
	tab := newTestTable(b, TableConfig{MaxSessions: 1000, Timeout: time.Hour})
	tab.Bind("s", "a")
	cur, next := "a", "b"
	b.ReportAllocs()
	for b.Loop() {
		if got, moved := tab.Rebind("s", cur, next); got != next || !moved {
			b.Fatalf("Rebind = %q, %v", got, moved)
		}
		cur, next = next, cur
	}
}
