package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// adminDrain starts (POST) or ends (DELETE) a drain on a node's admin
// endpoint and returns whether the node answers it as draining.
func adminDrain(t *testing.T, n *node, method, upstream string) bool {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.adminAddr+"/soap-affinity/policies/LoadBalanceProxy/drain?upstream="+url.QueryEscape(upstream), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := nodeClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var row struct{ Draining bool }
	if err := json.NewDecoder(resp.Body).Decode(&row); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s drain of %s: status %d, %v", method, upstream, resp.StatusCode, err)
	}
	return row.Draining
}

// TestRedisTwoNodesShareADrain: a drain started on node 1 is obeyed by node 2
// from its very next request; the drained upstream's sessions stay on it on
// both nodes; the drain survives a restart of node 1 (it is kept in Redis),
// and ending it on node 2 ends it on node 1.
func TestRedisTwoNodesShareADrain(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	nodes := []*node{startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)}
	drained := bs[0].addr
	home := map[string]string{}
	var own []string
	for _, id := range sessionIDs("before", 12) {
		home[id] = nodes[0].mustSend(t, id)
		if home[id] == drained {
			own = append(own, id)
		}
	}
	if len(own) == 0 {
		t.Fatalf("no session on %s: %v", drained, home)
	}

	if !adminDrain(t, nodes[0], http.MethodPost, drained) {
		t.Fatal("node 1 does not answer the drain as draining")
	}
	for i, id := range sessionIDs("after", 60) {
		if got := nodes[1].mustSend(t, id); got == drained {
			t.Fatalf("node 2 placed new session %d on the upstream node 1 drains", i)
		}
	}
	for _, id := range own {
		for _, n := range nodes {
			if got := n.mustSend(t, id); got != drained {
				t.Fatalf("session %s left the draining upstream for %s", id, got)
			}
		}
	}

	nodes[0].stop()
	nodes[0] = startNode(t, 1, srv.Addr, bs)
	for i, id := range sessionIDs("restarted", 30) {
		if got := nodes[0].mustSend(t, id); got == drained {
			t.Fatalf("after its restart, node 1 placed new session %d on the draining upstream", i)
		}
	}

	if adminDrain(t, nodes[1], http.MethodDelete, drained) {
		t.Fatal("node 2 still answers draining after the undrain")
	}
	placed := 0
	for _, id := range sessionIDs("undrained", 30) {
		if nodes[0].mustSend(t, id) == drained {
			placed++
		}
	}
	if placed == 0 {
		t.Error("after node 2 ended the drain, node 1 placed no new session on the upstream")
	}
	t.Logf("drain shared through redis: 0 of 60 new sessions on node 2 and 0 of 30 on restarted node 1 went to %s; %d of 30 after the undrain", drained, placed)
}
