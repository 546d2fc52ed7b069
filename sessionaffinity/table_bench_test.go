package sessionaffinity

import (
	"runtime"
	"strconv"
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

// manualClock is a Clock that moves only when told.
type manualClock struct{ now atomic.Int64 }

func (c *manualClock) NowNano() int64 { return c.now.Load() }
