package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Two nodes share their drains through Redis: a drain set on one is obeyed by
// the other from its next placement; while Redis is down each node keeps to
// its copy, and a drain set meanwhile says it reached this node only.
func TestRedisDrainsShared(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{Backoff: 10 * time.Millisecond}
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}
	s1, s2 := newNode(t, on(srv), table, cfg), newNode(t, on(srv), table, cfg)
	var m1, m2 sessionaffinity.MemoryDrains
	d1, d2 := s1.Drains("test#drains", &m1), s2.Drains("test#drains", &m2)

	if d2.Any() {
		t.Fatal("drains before any was set")
	}
	if changed, err := d1.Set("b:80", true, time.Time{}); !changed || err != nil {
		t.Fatalf("Set on node 1: changed %v, %v", changed, err)
	}
	// Node 2 reads the set from its cache of Redis, which Redis invalidates
	// on node 1's change: node 2 sees it once that message has arrived.
	redistest.Eventually(t, time.Second, "node 2 to see node 1's drain", func() bool { return d2.Any() && d2.Draining("b:80") })
	if d2.Draining("a:80") {
		t.Fatal("node 2 drains a:80 after node 1 drained b:80")
	}
	if changed, err := d2.Set("b:80", true, time.Time{}); changed || err != nil {
		t.Errorf("draining again from node 2: changed %v, %v; want no change", changed, err)
	}
	if got, err := srv.Do("SISMEMBER", "test#drains", "b:80"); got != "1" || err != nil {
		t.Errorf("SISMEMBER b:80 = %q, %v; want 1", got, err)
	}

	// A deadline is an absolute time: node 2 reads node 1's as it was set.
	deadline := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	if changed, err := d1.Set("b:80", true, deadline); !changed || err != nil {
		t.Fatalf("setting a deadline on node 1: changed %v, %v", changed, err)
	}
	redistest.Eventually(t, time.Second, "node 2 to see node 1's deadline", func() bool { return d2.Any() && d2.Deadline("b:80").Equal(deadline) })
	if _, err := d2.Set("b:80", true, time.Time{}); err != nil || !d1.Any() || !d1.Deadline("b:80").Equal(deadline) {
		t.Errorf("a drain again without a deadline: node 1 reads deadline %v, %v; want %v kept", d1.Deadline("b:80"), err, deadline)
	}
	if d1.Overdue("b:80") || d2.Overdue("b:80") {
		t.Error("overdue an hour before the deadline")
	}
	past := time.UnixMilli(time.Now().Add(-time.Second).UnixMilli())
	if _, err := d1.Set("b:80", true, past); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, 3*time.Second, "node 2, following sessions only, to see the deadline pass", func() bool { return d2.Overdue("b:80") })

	srv.Stop()
	if !d2.Any() || !d2.Draining("b:80") {
		t.Error("with redis down, node 2 forgot the drain")
	}
	if _, err := d1.Set("c:80", true, time.Time{}); err == nil {
		t.Error("a drain set while redis is down reports no error")
	}
	if !d1.Draining("c:80") {
		t.Error("a drain set while redis is down does not hold on its node")
	}
	srv.Restart() // empty: the drain is set again
	if _, err := d1.Set("b:80", true, time.Time{}); err != nil {
		t.Fatalf("Set after redis came back: %v", err)
	}
	forgotten, err := d2.Retain(func(u string) bool { return u != "b:80" })
	if err != nil || fmt.Sprint(forgotten) != "[b:80]" {
		t.Errorf("Retain: forgot %v, %v; want [b:80]", forgotten, err)
	}
	redistest.Eventually(t, time.Second, "node 1 to see node 2 forget b:80", func() bool { return !d1.Any() })
	if got, err := srv.Do("HLEN", "test#drains:deadlines"); got != "0" || err != nil {
		t.Errorf("deadlines left after the drain was forgotten: HLEN %q, %v", got, err)
	}
}
