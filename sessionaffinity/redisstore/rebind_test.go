package redisstore

import (
	"strconv"
	"sync"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// TestFailoverMovesEachSessionOnce is issue 23's double-counted rebind on two
// nodes: both have cached 200 sessions on u1, which goes down; each session's
// next requests reach both nodes at once, and both place it on u2, as
// placement hash does. Whichever node's compare-and-set moves a session
// rebinds it; the other, which had not yet read Redis's notice of that move,
// follows it there: one rebind per session, not one per node.
func TestFailoverMovesEachSessionOnce(t *testing.T) {
	srv := redistest.Start(t)
	ups := []string{"u1", "u2", "u3"}
	pool := sessionaffinity.Pool{Len: len(ups), Key: func(i int) string { return ups[i] }, Available: func(i int) bool { return i != 0 }}
	attempt := sessionaffinity.Attempt{Pool: pool, Place: func(sessionaffinity.DrainReader) int { return 1 }}
	var routers []*sessionaffinity.Router
	var nodes []node
	for range 2 {
		n := newNode(t, on(srv), twoMinutes, Config{})
		r, err := sessionaffinity.NewRouter(n.Store, sessionaffinity.RouterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		nodes, routers = append(nodes, n), append(routers, r)
	}
	const sessions = 200
	for i := range sessions {
		id := "f-" + strconv.Itoa(i)
		nodes[0].Bind(id, "u1")
		if up, _ := nodes[1].Lookup(id); up != "u1" {
			t.Fatalf("node 2 sees %s on %q, want u1", id, up)
		}
	}
	outcomes := make([][2]sessionaffinity.Outcome, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		id := "f-" + strconv.Itoa(i)
		release := make(chan struct{})
		for k, r := range routers {
			wg.Go(func() {
				<-release
				d := r.Route(id, attempt)
				if d.Upstream != 1 {
					t.Errorf("%s through node %d went to %d, want u2", id, k+1, d.Upstream)
				}
				outcomes[i][k] = d.Outcome
			})
		}
		close(release)
	}
	wg.Wait()
	rebinds, follows := 0, 0
	for i, o := range outcomes {
		moved := 0
		for _, oc := range o {
			switch oc {
			case sessionaffinity.Rebound:
				moved++
			case sessionaffinity.JoinedRebind, sessionaffinity.Followed:
				follows++
			default:
				t.Errorf("f-%d: outcome %d, want a rebind or a follow", i, oc)
			}
		}
		if moved != 1 {
			t.Errorf("f-%d: rebound by %d nodes, want 1 (outcomes %v)", i, moved, o)
		}
		rebinds += moved
	}
	t.Logf("%d sessions: %d rebinds, %d requests followed the other node's move", sessions, rebinds, follows)
}
