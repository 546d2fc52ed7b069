package caddymodule

import (
	"fmt"
	"strings"
	"testing"
)

// TestBindingLabelsOfRemovedUpstreamsGo reloads a config that replaces
// upstreams, over and over: bindings_total keeps a series only for upstreams
// in the loaded config, and the counts of kept upstreams go on.
func TestBindingLabelsOfRemovedUpstreamsGo(t *testing.T) {
	bs := startBackends(t, 6)
	series := func(upstream string) string {
		return fmt.Sprintf(`%sbindings_total{policy="labels",upstream=%q}`, metricsPrefix, upstream)
	}
	initCaddy(t, proxyConfig(bs[:2], "{\n name labels\n }", ""))
	for i := range 10 {
		servedBy(t, withSession(fmt.Sprintf("first-%d", i)), 1)
	}
	first := scrape(t)
	if first[series(bs[0].addr)]+first[series(bs[1].addr)] != 10 {
		t.Fatalf("bindings on b1 and b2: %v and %v, want 10 in all", first[series(bs[0].addr)], first[series(bs[1].addr)])
	}
	// Keep b2, swap the other upstream for a new one on each reload.
	for r, b := range bs[2:] {
		initCaddy(t, proxyConfig([]*backend{bs[1], b}, "{\n name labels\n }", ""))
		for i := range 6 {
			servedBy(t, withSession(fmt.Sprintf("reload%d-%d", r, i)), 1)
		}
	}
	now := scrape(t)
	var labelled []string
	for s := range now {
		if strings.HasPrefix(s, metricsPrefix+`bindings_total{policy="labels"`) {
			labelled = append(labelled, s)
		}
	}
	if len(labelled) != 2 {
		t.Errorf("bindings_total series of the policy: %v; want only b2's and b6's", labelled)
	}
	if _, ok := now[series(bs[5].addr)]; !ok {
		t.Errorf("no series for the configured upstream b6: %v", labelled)
	}
	if now[series(bs[1].addr)] <= first[series(bs[1].addr)] {
		t.Errorf("b2's count went from %v to %v across reloads; want it to go on", first[series(bs[1].addr)], now[series(bs[1].addr)])
	}
}
