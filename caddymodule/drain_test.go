package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
)

// uniqueName is a policy name of its own for one test, so that no table or
// drain of an earlier test carries over.
func uniqueName(prefix string) string { return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()) }

func drainPath(policy, upstream string) string {
	return "/soap-affinity/policies/" + policy + "/drain?upstream=" + url.QueryEscape(upstream)
}

type upstreamRows struct {
	Upstreams []state.UpstreamInfo `json:"upstreams"`
}

// upstreamRow returns the admin API's row of upstream.
func upstreamRow(t *testing.T, policy, upstream string) state.UpstreamInfo {
	t.Helper()
	var list upstreamRows
	adminOK(t, http.MethodGet, "/soap-affinity/policies/"+policy+"/upstreams", &list)
	for _, u := range list.Upstreams {
		if u.Upstream == upstream {
			return u
		}
	}
	t.Fatalf("upstreams of %s: %+v; no %s", policy, list.Upstreams, upstream)
	return state.UpstreamInfo{}
}

// sessionsBoundTo binds 30 sessions named prefix0, prefix1, ... and returns
// those bound to on (at least 2, or the test fails).
func sessionsBoundTo(t *testing.T, bs []*backend, prefix string, on *backend) []string {
	t.Helper()
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprint(prefix, i)
	}
	home := bindSessions(t, bs, ids)
	var own []string
	for _, id := range ids {
		if home[id] == on.addr {
			own = append(own, id)
		}
	}
	if len(own) < 2 {
		t.Fatalf("only %d of 30 sessions on %s: %v", len(own), on.addr, home)
	}
	return own
}

func gauge(policy, metric, upstream string) string {
	return fmt.Sprintf(`%s%s{policy="%s",upstream="%s"}`, metricsPrefix, metric, policy, upstream)
}

// TestDrainUnderLoad: while an upstream drains, 300 new sessions (and
// requests without one) sent concurrently go elsewhere, every request of its
// own sessions stays on it, a deleted session leaves it, its gauge counts
// down as the sessions expire, and ending the drain places new sessions on it
// again.
func TestDrainUnderLoad(t *testing.T) {
	bs := startBackends(t, 3)
	name := uniqueName("drain")
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n timeout 3s\n }", ""))
	drained := bs[1]
	own := sessionsBoundTo(t, bs, "old-", drained)

	var row state.UpstreamInfo
	adminOK(t, http.MethodPost, drainPath(name, drained.addr), &row)
	if !row.Draining || row.Sessions != len(own) || !row.Available || row.Upstream != drained.addr {
		t.Fatalf("drain answered %+v; want draining, %d sessions, available", row, len(own))
	}
	if m := scrape(t); m[gauge(name, "upstream_draining", drained.addr)] != 1 || m[gauge(name, "upstream_sessions", drained.addr)] != float64(len(own)) {
		t.Errorf("gauges while draining: draining %v, sessions %v; want 1, %d", m[gauge(name, "upstream_draining", drained.addr)], m[gauge(name, "upstream_sessions", drained.addr)], len(own))
	}

	// Load: 8 workers send 300 new sessions and 100 requests without one,
	// while another keeps the drained upstream's sessions busy.
	var newOnDrained, ownMoved, ownRequests, failures atomic.Int64
	jobs := make(chan request)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range jobs {
				rep, err := trySend(req)
				if err != nil || rep.status != http.StatusOK {
					failures.Add(1)
				} else if rep.backend == drained.name {
					newOnDrained.Add(1)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var busy sync.WaitGroup
	busy.Add(1)
	go func() {
		defer busy.Done()
		for {
			for _, id := range own {
				select {
				case <-stop:
					return
				default:
				}
				rep, err := trySend(withSession(id))
				ownRequests.Add(1)
				if err != nil || rep.backend != drained.name {
					ownMoved.Add(1)
				}
			}
		}
	}()
	for i := range 300 {
		jobs <- withSession(fmt.Sprint("new-", i))
		if i%3 == 0 {
			jobs <- request{body: []byte("<x/>")}
		}
	}
	close(jobs)
	wg.Wait()
	close(stop)
	busy.Wait()
	if newOnDrained.Load() != 0 || failures.Load() != 0 {
		t.Errorf("while draining: %d new requests on the drained upstream, %d failed; want 0 and 0", newOnDrained.Load(), failures.Load())
	}
	if ownMoved.Load() != 0 || ownRequests.Load() < int64(len(own)) {
		t.Errorf("its own sessions: %d of %d requests went elsewhere; want all %d sessions kept", ownMoved.Load(), ownRequests.Load(), len(own))
	}
	t.Logf("drain under load: 300 new sessions + 100 without, 0 on %s; %d requests of its %d sessions all stayed", drained.addr, ownRequests.Load(), len(own))

	// A deleted session is placed anew, not on the drained upstream.
	if status := oneSession(t, "forget", name, own[0], nil); status != http.StatusOK {
		t.Fatalf("forgetting session %s: status %d", own[0], status)
	}
	if got := servedBy(t, withSession(own[0]), 1)[0]; got == drained.name {
		t.Errorf("deleted session %s placed on the draining upstream again", own[0])
	}

	key := gauge(name, "upstream_sessions", drained.addr)
	if n := scrape(t)[key]; n != float64(len(own)-1) {
		t.Errorf("after deleting one of its %d sessions, %s = %v", len(own), key, n)
	}

	// The rest expire: the gauge counts down to 0.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n := scrape(t)[key]
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %v after the sessions' timeout", key, n)
		}
	}

	// Undrain: new sessions land there again.
	adminOK(t, http.MethodDelete, drainPath(name, drained.addr), &row)
	if row.Draining {
		t.Fatalf("undrain answered %+v", row)
	}
	placed := 0
	for i := range 30 {
		if servedBy(t, withSession(fmt.Sprint("after-", i)), 1)[0] == drained.name {
			placed++
		}
	}
	if placed == 0 {
		t.Error("after the drain ended, no new session went to the upstream")
	}
	if m := scrape(t); m[gauge(name, "upstream_draining", drained.addr)] != 0 {
		t.Errorf("draining gauge %v after undrain", m[gauge(name, "upstream_draining", drained.addr)])
	}
}

func TestDrainAdminCalls(t *testing.T) {
	bs := startBackends(t, 2)
	name := uniqueName("drainapi")
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n }", ""))
	var first, again state.UpstreamInfo
	adminOK(t, http.MethodPost, drainPath(name, bs[0].addr), &first)
	adminOK(t, http.MethodPost, drainPath(name, bs[0].addr), &again)
	if first != again || !first.Draining {
		t.Errorf("drain twice: %+v then %+v; want the same, draining", first, again)
	}
	var list upstreamRows
	adminOK(t, http.MethodGet, "/soap-affinity/policies/"+name+"/upstreams", &list)
	want := []state.UpstreamInfo{{Upstream: bs[0].addr, Draining: true, Drained: true, Available: true}, {Upstream: bs[1].addr, Available: true}}
	if fmt.Sprint(list.Upstreams) != fmt.Sprint(want) {
		t.Errorf("upstreams %+v, want %+v", list.Upstreams, want)
	}
	adminOK(t, http.MethodDelete, drainPath(name, bs[0].addr), &first)
	adminOK(t, http.MethodDelete, drainPath(name, bs[0].addr), &again)
	if first != again || first.Draining {
		t.Errorf("undrain twice: %+v then %+v; want the same, not draining", first, again)
	}

	base := "/soap-affinity/policies/" + name + "/drain"
	adminError(t, http.MethodPost, drainPath(name, "localhost:1"), http.StatusNotFound, `no upstream "localhost:1"`)
	adminError(t, http.MethodPost, drainPath("nope", bs[0].addr), http.StatusNotFound, `no simple_client_session policy named "nope"`)
	adminError(t, http.MethodPost, drainPath(name, "localhost"), http.StatusBadRequest, `malformed upstream "localhost"`)
	adminError(t, http.MethodPost, base, http.StatusBadRequest, "missing parameter upstream")
	adminError(t, http.MethodPost, base+"?upstream=", http.StatusBadRequest, "empty upstream")
	adminError(t, http.MethodPost, base+"?upstream="+bs[0].addr+"&upstream="+bs[1].addr, http.StatusBadRequest, "given 2 times")
	adminError(t, http.MethodPost, base+"?upstream="+bs[0].addr+"&all=1", http.StatusBadRequest, `unknown parameter "all"`)
	adminError(t, http.MethodPost, base+"?upstream=%zz", http.StatusBadRequest, "malformed query")
	adminError(t, http.MethodPost, base+"?all", http.StatusBadRequest, `unknown parameter "all"`)
	adminError(t, http.MethodGet, base+"?upstream="+bs[0].addr, http.StatusMethodNotAllowed, "DELETE, POST")
	adminError(t, http.MethodGet, "/soap-affinity/policies/"+name+"/upstreams?x=1", http.StatusBadRequest, `unknown parameter "x"`)
	if upstreamRow(t, name, bs[0].addr).Draining {
		t.Error("a rejected call changed the drain")
	}
}

// A drain survives reloads, also one that starts a new table; a reload that
// removes the upstream forgets it, and its metrics go.
func TestDrainAcrossReloads(t *testing.T) {
	bs := startBackends(t, 3)
	name := uniqueName("drainreload")
	cfg := func(bs []*backend, timeout string) string {
		return proxyConfig(bs, "{\n name "+name+"\n timeout "+timeout+"\n }", "")
	}
	initCaddy(t, cfg(bs, "1m"))
	adminOK(t, http.MethodPost, drainPath(name, bs[2].addr), nil)
	initCaddy(t, cfg(bs, "1m"))
	initCaddy(t, cfg(bs, "2m")) // a new table
	if !upstreamRow(t, name, bs[2].addr).Draining {
		t.Fatal("drain lost by reloads")
	}
	for i := range 20 {
		if got := servedBy(t, withSession(fmt.Sprint("r-", i)), 1)[0]; got == bs[2].name {
			t.Fatalf("after reloads, new session %d placed on the draining upstream", i)
		}
	}

	initCaddy(t, cfg(bs[:2], "2m"))
	m := scrape(t)
	for _, metric := range []string{"upstream_sessions", "upstream_draining"} {
		if _, ok := m[gauge(name, metric, bs[2].addr)]; ok {
			t.Errorf("%s still reported for the removed upstream", gauge(name, metric, bs[2].addr))
		}
		if _, ok := m[gauge(name, metric, bs[0].addr)]; !ok {
			t.Errorf("%s not reported", gauge(name, metric, bs[0].addr))
		}
	}
	initCaddy(t, cfg(bs, "2m"))
	if upstreamRow(t, name, bs[2].addr).Draining {
		t.Error("an upstream removed and added again is still draining")
	}
}

// least_sessions: with one upstream holding 100 sessions, 300 new sessions
// leave the three within ±1 of even.
func TestLeastSessionsPlacement(t *testing.T) {
	bs := startBackends(t, 3)
	name := uniqueName("least")
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n placement least_sessions\n }", ""))
	// Preload the first upstream: drain the others meanwhile.
	adminOK(t, http.MethodPost, drainPath(name, bs[1].addr), nil)
	adminOK(t, http.MethodPost, drainPath(name, bs[2].addr), nil)
	for i := range 100 {
		servedBy(t, withSession(fmt.Sprint("pre-", i)), 1)
	}
	adminOK(t, http.MethodDelete, drainPath(name, bs[1].addr), nil)
	adminOK(t, http.MethodDelete, drainPath(name, bs[2].addr), nil)
	if n := upstreamRow(t, name, bs[0].addr).Sessions; n != 100 {
		t.Fatalf("preloaded %d sessions, want 100", n)
	}
	for i := range 300 {
		servedBy(t, withSession(fmt.Sprint("new-", i)), 1)
	}
	var counts []int
	for _, b := range bs {
		n := upstreamRow(t, name, b.addr).Sessions
		counts = append(counts, n)
		if n < 133 || n > 134 {
			t.Errorf("%s holds %d sessions; want 133 or 134", b.addr, n)
		}
	}
	t.Logf("least_sessions: 100 preloaded + 300 new -> %v", counts)
}

// max_lifetime is parsed (with store redis: TestRedisMaxLifetime).
func TestMaxLifetimeConfig(t *testing.T) {
	bs := startBackends(t, 1)
	name := uniqueName("lifetime")
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n max_lifetime 1h\n }", ""))
	if got := sessionTable(t, name).Config().MaxLifetime; got != time.Hour {
		t.Errorf("max_lifetime 1h gave the table %s", got)
	}
	assertLoadError(t, proxyConfig(bs, "{\n max_lifetime 0s\n }", ""), "caddyfile", "invalid max_lifetime '0s'")
	assertLoadError(t, proxyConfig(bs, "{\n placement most_sessions\n }", ""), "caddyfile", `unknown placement \"most_sessions\"`)
}
