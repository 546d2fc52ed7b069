package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns the test Caddy's metrics from the admin endpoint's /metrics.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := testClient.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping metrics: status %d, %v\n%s", resp.StatusCode, err, body)
	}
	series := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, metricsPrefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

// withoutUpstreamGauges leaves out the per-upstream gauges, which follow the
// upstreams of the config.
func withoutUpstreamGauges(series map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range series {
		if !strings.HasPrefix(k, metricsPrefix+"upstream_") {
			out[k] = v
		}
	}
	return out
}

// checkDelta compares each series' growth since before with want.
func checkDelta(t *testing.T, stage string, before, now map[string]float64, want map[string]float64) {
	t.Helper()
	for series, w := range want {
		if got := now[series] - before[series]; got != w {
			t.Errorf("%s: %s grew by %v, want %v", stage, series, got, w)
		}
	}
}

// TestMetricsCountWhatHappens sends a known sequence of requests and checks
// every metric that it moves, then reloads and checks that the counts go on.
func TestMetricsCountWhatHappens(t *testing.T) {
	bs := startBackends(t, 3)
	name := fmt.Sprintf("metrics_%d", time.Now().UnixNano())
	cfg := func(bs []*backend) string {
		return proxyConfig(bs, "{\n name "+name+"\n }", "lb_retries 2\n fail_duration 1m")
	}
	initCaddy(t, cfg(bs))
	before := scrape(t)
	byName := map[string]*backend{}
	for _, b := range bs {
		byName[b.name] = b
	}
	p := func(labels string) string { return fmt.Sprintf(`{policy="%s"%s}`, name, labels) }
	// Labels are written in name order: outcome comes before policy.
	peeks := func(outcome string) string {
		return fmt.Sprintf(`%ssoap_peeks_total{outcome="%s",policy="%s"}`, metricsPrefix, outcome, name)
	}
	bindings := func(b *backend) string {
		return metricsPrefix + "bindings_total" + p(`,upstream="`+b.addr+`"`)
	}

	// Four new sessions over three backends (round robin): the fourth shares
	// the first's backend. Repeats bind nothing.
	home := map[string]*backend{}
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		home[id] = byName[servedBy(t, withSession(id), 1)[0]]
		servedBy(t, withSession(id), 2)
	}
	if home["m1"] != home["m4"] || home["m1"] == home["m2"] {
		t.Fatalf("round robin placed m1..m4 on %v", home)
	}
	// Two requests without an id, a SOAP ClientID, a malformed SOAP body.
	servedBy(t, request{body: []byte("<x/>")}, 2)
	servedBy(t, soapRequest("1.1", "m5"), 2)
	home["m5"] = byName[servedBy(t, soapRequest("1.1", "m5"), 1)[0]]
	malformed := soapRequest("1.1", "m6")
	malformed.body = malformed.body[:len(malformed.body)/3]
	servedBy(t, malformed, 1)

	now := scrape(t)
	want := map[string]float64{
		metricsPrefix + "requests_without_session_total" + p(""): 3,
		peeks("found"):      3,
		peeks("malformed"):  1,
		peeks("over_limit"): 0,
		metricsPrefix + "rebinds_total" + p(`,reason="upstream_down"`): 0,
	}
	for _, b := range bs {
		n := 0.0
		for _, h := range home {
			if h == b {
				n++
			}
		}
		want[bindings(b)] = n
	}
	checkDelta(t, "after new sessions", before, now, want)
	if got := now[metricsPrefix+"sessions"+p("")]; got != 5 {
		t.Errorf("sessions gauge %v, want 5", got)
	}
	for _, b := range bs {
		if got, want := now[metricsPrefix+"upstream_sessions"+p(`,upstream="`+b.addr+`"`)], want[bindings(b)]; got != want {
			t.Errorf("upstream_sessions gauge of %s = %v, want %v", b.addr, got, want)
		}
	}

	// m1's backend goes away: m1's request fails there and is retried
	// elsewhere (retry_after_failure); then m4's backend is known down
	// (upstream_down). Both bind to their new backends.
	down := home["m1"]
	down.Stop()
	moved := map[string]*backend{}
	for _, id := range []string{"m1", "m4"} {
		moved[id] = byName[servedBy(t, withSession(id), 1)[0]]
	}
	before, now = now, scrape(t)
	want = map[string]float64{
		metricsPrefix + "rebinds_total" + p(`,reason="retry_after_failure"`): 1,
		metricsPrefix + "rebinds_total" + p(`,reason="upstream_down"`):       1,
		metricsPrefix + "rebinds_total" + p(`,reason="upstream_removed"`):    0,
		bindings(down): 0,
	}
	for _, b := range bs {
		if b != down {
			want[bindings(b)] = 0
		}
	}
	for _, b := range moved {
		want[bindings(b)]++
	}
	checkDelta(t, "after failover", before, now, want)
	for _, b := range bs {
		n := 0.0
		for id, h := range home {
			if to, ok := moved[id]; ok {
				h = to
			}
			if h == b {
				n++
			}
		}
		if got := now[metricsPrefix+"upstream_sessions"+p(`,upstream="`+b.addr+`"`)]; got != n {
			t.Errorf("upstream_sessions gauge of %s = %v after the failover, want %v", b.addr, got, n)
		}
	}

	// Reload without the stopped backend and without m2's: their bindings
	// series go (bounded cardinality), the other counters carry on, nothing
	// is registered twice, and m2 is rebound (upstream_removed).
	var keep []*backend
	for _, b := range bs {
		if b != down && b != home["m2"] {
			keep = append(keep, b)
		}
	}
	if len(keep) != 1 {
		t.Fatalf("m1 and m2 share a backend: %v", home)
	}
	tester := initCaddy(t, cfg(keep))
	before = now
	// The removed upstreams leave the metrics: their bindings counters and
	// their per-upstream gauges.
	delete(before, bindings(down))
	delete(before, bindings(home["m2"]))
	if now = scrape(t); fmt.Sprint(withoutUpstreamGauges(now)) != fmt.Sprint(withoutUpstreamGauges(before)) {
		t.Errorf("a reload changed the metrics:\nbefore %v\nafter  %v", before, now)
	}
	for series := range now {
		if strings.HasPrefix(series, metricsPrefix+"upstream_") && strings.Contains(series, name) && !strings.Contains(series, keep[0].addr) {
			t.Errorf("after the reload, %s is still reported", series)
		}
	}
	servedBy(t, withSession("m2"), 1)
	before, now = now, scrape(t)
	checkDelta(t, "after reload", before, now, map[string]float64{
		metricsPrefix + "rebinds_total" + p(`,reason="upstream_removed"`): 1,
		bindings(keep[0]): 1,
	})
	tester.InitServer(cfg(keep), "caddyfile")
	before, now = now, scrape(t)
	checkDelta(t, "after a second reload", before, now, map[string]float64{bindings(keep[0]): 0})
	if got := now[metricsPrefix+"sessions"+p("")]; got != 5 {
		t.Errorf("sessions gauge after reloads %v, want 5", got)
	}
}

// TestMetricsCountExpiryAndEviction fills a small, short-lived table.
func TestMetricsCountExpiryAndEviction(t *testing.T) {
	bs := startBackends(t, 1)
	name := fmt.Sprintf("removals_%d", time.Now().UnixNano())
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n max_sessions 10\n timeout 1s\n }", ""))
	before := scrape(t)
	for i := range 30 {
		servedBy(t, withSession(fmt.Sprint("e", i)), 1)
	}
	table := sessionTable(t, name)
	table.CleanUp()
	held := table.Len()
	p := fmt.Sprintf(`{policy="%s"}`, name)
	checkDelta(t, "over the bound", before, scrape(t), map[string]float64{
		metricsPrefix + "evictions_total" + p:   float64(30 - held),
		metricsPrefix + "expirations_total" + p: 0,
	})
	if held > 10 {
		t.Fatalf("table holds %d sessions, bound 10", held)
	}
	// The table's timer wheel expires sessions within about a second after
	// their timeout.
	expired := metricsPrefix + "expirations_total" + p
	now := scrape(t)
	for deadline := time.Now().Add(10 * time.Second); now[expired]-before[expired] < float64(held) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		table.CleanUp()
		now = scrape(t)
	}
	checkDelta(t, "after the timeout", before, now, map[string]float64{
		metricsPrefix + "evictions_total" + p:   float64(30 - held),
		metricsPrefix + "expirations_total" + p: float64(held),
	})
	if got := now[metricsPrefix+"sessions"+p]; got != 0 {
		t.Errorf("sessions gauge %v after every session expired", got)
	}
}

// TestMetricsCountRequestsNotAttempts retries id-less requests that hit a
// stopped backend: each request is counted once, however often it is tried.
func TestMetricsCountRequestsNotAttempts(t *testing.T) {
	bs := startBackends(t, 2)
	name := fmt.Sprintf("attempts_%d", time.Now().UnixNano())
	initCaddy(t, proxyConfig(bs, "{\n name "+name+"\n }", "lb_retries 1"))
	bs[0].Stop()
	before := scrape(t)
	if got := servedBy(t, request{body: []byte("<x/>")}, 4); !allSame(got) || got[0] != "b2" {
		t.Fatalf("id-less requests served by %v, want b2 (b1 is stopped)", got)
	}
	checkDelta(t, "4 requests, 2 of them retried", before, scrape(t), map[string]float64{
		metricsPrefix + "requests_without_session_total" + fmt.Sprintf(`{policy="%s"}`, name): 4,
	})
}

// metricsPrefix starts the name of every metric of the plugin.
const metricsPrefix = "caddy_soap_affinity_"
