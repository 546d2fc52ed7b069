package caddymodule

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
)

// TestDrainDeadline: a drain's deadline survives a reload; once it passes,
// each session still on the upstream goes elsewhere on its next request,
// counted as a drain_deadline rebind, and the upstream is listed (and
// gauged) as drained. A deadline that does not parse or is out of range is a
// 400 naming it that changes nothing.
func TestDrainDeadline(t *testing.T) {
	bs := startBackends(t, 3)
	name := uniqueName("deadline")
	cfg := proxyConfig(bs, "{\n name "+name+"\n timeout 1m\n }", "")
	initCaddy(t, cfg)
	drained := bs[1]
	own := sessionsBoundTo(t, bs, "s-", drained)

	for _, bad := range []struct{ deadline, want string }{
		{"soon", `malformed deadline "soon"`},
		{"10", `malformed deadline "10"`},
		{"-1m", `deadline "-1m": want a duration above 0`},
		{"0s", `deadline "0s": want a duration above 0`},
		{"721h", `deadline "721h": at most 720h0m0s`},
		{"9999999999h", `malformed deadline "9999999999h"`},
	} {
		adminError(t, http.MethodPost, drainPath(name, drained.addr)+"&deadline="+url.QueryEscape(bad.deadline), http.StatusBadRequest, bad.want)
	}
	adminError(t, http.MethodDelete, drainPath(name, drained.addr)+"&deadline=1m", http.StatusBadRequest, `unknown parameter "deadline"`)
	if row := upstreamRow(t, name, drained.addr); row.Draining || !row.Deadline.IsZero() {
		t.Fatalf("a refused deadline changed the upstream: %+v", row)
	}

	var row state.UpstreamInfo
	before := time.Now()
	adminOK(t, http.MethodPost, drainPath(name, drained.addr)+"&deadline=1h", &row)
	if !row.Draining || row.Drained || row.Sessions != len(own) || row.Deadline.Before(before.Add(time.Hour-time.Second)) || row.Deadline.After(time.Now().Add(time.Hour)) {
		t.Fatalf("drain with deadline 1h answered %+v; want draining, %d sessions, deadline in an hour", row, len(own))
	}
	initCaddy(t, cfg)
	if again := upstreamRow(t, name, drained.addr); !again.Deadline.Equal(row.Deadline) {
		t.Fatalf("after a reload the deadline is %v, want %v", again.Deadline, row.Deadline)
	}
	for _, id := range own {
		if got := servedBy(t, withSession(id), 1)[0]; got != drained.name {
			t.Fatalf("session %s left for %s before the deadline", id, got)
		}
	}

	// A drain again with a deadline sets the new one.
	adminOK(t, http.MethodPost, drainPath(name, drained.addr)+"&deadline=1s", &row)
	if d := time.Until(row.Deadline); d > time.Second {
		t.Fatalf("deadline %v is %v away, want at most 1s", row.Deadline, d)
	}
	time.Sleep(time.Until(row.Deadline))
	for _, id := range own {
		if got := servedBy(t, withSession(id), 2); got[0] == drained.name || got[1] != got[0] {
			t.Errorf("session %s past the deadline went to %v, want another upstream, twice", id, got)
		}
	}
	row = upstreamRow(t, name, drained.addr)
	if !row.Draining || !row.Drained || row.Sessions != 0 {
		t.Errorf("after the deadline moved every session: %+v; want draining, drained, 0 sessions", row)
	}
	m := scrape(t)
	if got := m[metricsPrefix+`rebinds_total{policy="`+name+`",reason="drain_deadline"}`]; got != float64(len(own)) {
		t.Errorf("drain_deadline rebinds %v, want %d", got, len(own))
	}
	if m[gauge(name, "upstream_drained", drained.addr)] != 1 || m[gauge(name, "upstream_drained", bs[0].addr)] != 0 {
		t.Errorf("drained gauges: %v on the drained upstream, %v on another; want 1 and 0",
			m[gauge(name, "upstream_drained", drained.addr)], m[gauge(name, "upstream_drained", bs[0].addr)])
	}
}
