package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Two nodes' counts add up: each sees its own live and the other's as last
// published.
func TestCounts(t *testing.T) {
	srv := redistest.Start(t)
	table := sessionaffinity.TableConfig{MaxSessions: 1000, Timeout: 2 * time.Minute}
	s1, s2 := newNode(t, on(srv), table, Config{}), newNode(t, on(srv), table, Config{})
	c1, c2 := s1.Counts("test#counts", "node1", 0), s2.Counts("test#counts", "node2", 0)
	t.Cleanup(c1.Close)
	t.Cleanup(c2.Close)
	for i := range 5 {
		s1.Bind(fmt.Sprint("n1-", i), "a:80")
	}
	for i := range 3 {
		s2.Bind(fmt.Sprint("n2-", i), "b:80")
	}
	if c1.SessionsOn("b:80") != 0 {
		t.Errorf("node 1 counts node 2's sessions before they were published")
	}
	for _, c := range []*Counts{c1, c2, c1} {
		if err := c.sync(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Counts{c1, c2} {
		if a, b := c.SessionsOn("a:80"), c.SessionsOn("b:80"); a != 5 || b != 3 {
			t.Errorf("%s counts a:80 %d, b:80 %d; want 5 and 3", c.node, a, b)
		}
	}
	// Its own sessions count at once.
	s1.Bind("n1-new", "b:80")
	if got := c1.SessionsOn("b:80"); got != 4 {
		t.Errorf("node 1 counts b:80 %d after binding one there, want 4", got)
	}
	// A node that stopped publishing drops out.
	stale := fmt.Sprintf(`{"at":%d,"counts":{"b:80":100}}`, time.Now().Add(-time.Hour).UnixMilli())
	if _, err := srv.Do("HSET", "test#counts", "node3", stale); err != nil {
		t.Fatal(err)
	}
	if err := c1.sync(); err != nil || c1.SessionsOn("b:80") != 4 {
		t.Errorf("with a stale node 3: b:80 %d, %v; want 4", c1.SessionsOn("b:80"), err)
	}
}
