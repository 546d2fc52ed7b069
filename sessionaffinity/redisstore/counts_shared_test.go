package redisstore

import (
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// Counts say they are the cluster's while Redis answers, and not while the
// node routes on its own table.
func TestCountsSharedFollowsOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := newNode(t, on(srv), twoMinutes, Config{Backoff: 50 * time.Millisecond})
	c := s.Counts("test#counts", "node1", 0)
	t.Cleanup(c.Close)
	s.Bind("s", "u1")
	if !c.CountsShared() {
		t.Fatal("counts not shared while redis answers")
	}
	srv.Stop()
	s.Lookup("s")
	if c.CountsShared() {
		t.Fatal("counts still shared after a lookup found redis down")
	}
	srv.Restart()
	redistest.Eventually(t, 5*time.Second, "the counts to be shared again", func() bool {
		s.Lookup("s")
		return c.CountsShared()
	})
}
