package policy

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// provisionPolicy loads the simple_client_session module from JSON the way
// Caddy does (LoadModuleByID: Provision, then Validate); cancelling the context
// cleans it up. Its logs are dropped, as at Caddy's default level (INFO): a
// context outside a running Caddy would log every debug line.
func provisionPolicy(t testing.TB, config string) *SimpleClientSession {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.reverse_proxy.selection_policies.simple_client_session", []byte(config))
	if err != nil {
		t.Fatalf("provisioning %s: %v", config, err)
	}
	p := mod.(*SimpleClientSession)
	p.logger = zap.NewNop()

	return p
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodOfNewSessionIDs sends 2,000,000 requests with new random session
// ids through the provisioned policy's Select (the code path of every proxied
// request, minus the HTTP round trip), against max_sessions 50000, while 100
// sessions stay in use: the table stays within its bound, the heap stays flat
// once the table is full, and every session in use keeps its upstream.
func TestFloodOfNewSessionIDs(t *testing.T) {
	const (
		maxSessions = 50_000
		flood       = 2_000_000
		hot         = 100
		hotEvery    = 1_000 // flood requests between two uses of each hot session
		samples     = 20
	)
	p := provisionPolicy(t, fmt.Sprintf(`{"name":"flood","max_sessions":%d,"timeout":"1h"}`, maxSessions))
	pool := reverseproxy.UpstreamPool{{Dial: "10.0.0.1:80"}, {Dial: "10.0.0.2:80"}, {Dial: "10.0.0.3:80"}}
	r, err := http.NewRequest(http.MethodPost, "http://proxy/", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	header := []string{""}
	r.Header["Simpleclientsession"] = header
	selectFor := func(id string) string {
		header[0] = id
		u := p.Select(pool, r, nil)
		if u == nil {
			t.Fatalf("no upstream for session %s", id)
		}
		return u.Dial
	}

	hotID := func(i int) string { return "hot-session-" + strconv.Itoa(i) }
	home := make([]string, hot)
	for i := range hot {
		home[i] = selectFor(hotID(i))
	}
	moved := map[string]bool{} // sessions in use that were served elsewhere at least once
	useHot := func() {
		for i := range hot {
			if selectFor(hotID(i)) != home[i] {
				moved[hotID(i)] = true
			}
		}
	}

	var (
		maxLen    int
		heapAt    []uint64
		rnd       = fmt.Sprintf("%x", heapInUse()) // varies from run to run
		heapStart = heapInUse()
	)
	for n := range flood {
		selectFor(rnd + "-" + strconv.Itoa(n))
		if n%hotEvery == hotEvery-1 {
			useHot()
		}
		if n%(flood/samples) == flood/samples-1 {
			p.lease.Table().CleanUp()
			maxLen = max(maxLen, p.lease.Table().Len())
			heapAt = append(heapAt, heapInUse())
		}
	}
	t.Logf("%d new ids against max_sessions %d with %d sessions in use (%d uses each): table at most %d sessions; "+
		"heap %.1f MB before, %.1f MB when first sampled, %.1f MB at most, %.1f MB at the end; sessions in use that moved: %d",
		flood, maxSessions, hot, flood/hotEvery, maxLen, mb(heapStart), mb(heapAt[0]), mb(slices.Max(heapAt)), mb(heapAt[len(heapAt)-1]), len(moved))

	if maxLen > maxSessions {
		t.Errorf("table held %d sessions, bound %d", maxLen, maxSessions)
	}
	// Once the table is full, the heap must not grow with the number of ids
	// seen: allow 50% over the first full sample for GC and sketch noise.
	if peak := slices.Max(heapAt[1:]); peak > heapAt[0]+heapAt[0]/2 {
		t.Errorf("heap grew during the flood: %.1f MB at first, %.1f MB at most", mb(heapAt[0]), mb(peak))
	}
	if len(moved) > 0 {
		t.Errorf("%d of the %d sessions in use went to another upstream during the flood", len(moved), hot)
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
