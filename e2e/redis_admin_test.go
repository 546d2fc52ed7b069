package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// TestRedisAdminDeletesOnEveryNode deletes sessions through one node's admin
// API (one session, POST .../sessions/forget; an upstream's sessions; then
// all) while both nodes know
// them: the next request of each deleted session is placed anew (a new
// binding, counted by the node that receives it), on whichever node it lands,
// and the other node follows the new binding.
func TestRedisAdminDeletesOnEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	n1, n2 := startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)
	ids := sessionIDs("deleted", 30)
	home := map[string]string{}
	for _, id := range ids {
		home[id] = n1.mustSend(t, id)
		if got := n2.mustSend(t, id); got != home[id] {
			t.Fatalf("session %s: node 2 sent it to %s, bound to %s", id, got, home[id])
		}
	}
	placedAnew := func(first, other *node, deleted []string) {
		t.Helper()
		before := metricSum(t, first.adminAddr, "caddy_soap_affinity_bindings_total")
		for _, id := range deleted {
			now := first.mustSend(t, id)
			if got := other.mustSend(t, id); got != now {
				t.Fatalf("session %s placed anew on %s; the other node sent it to %s", id, now, got)
			}
			home[id] = now
		}
		if n := metricSum(t, first.adminAddr, "caddy_soap_affinity_bindings_total") - before; int(n) != len(deleted) {
			t.Fatalf("%d deleted sessions' next requests made %v new bindings, want one each", len(deleted), n)
		}
	}

	body, _ := json.Marshal(map[string]string{"id": ids[0]})
	if n := adminDelete(t, n1, http.MethodPost, "/sessions/forget", string(body)); n != 1 {
		t.Fatalf("deleting one session: deleted %d", n)
	}
	placedAnew(n2, n1, ids[:1])

	drained := bs[1].addr
	var onDrained []string
	for _, id := range ids {
		if home[id] == drained {
			onDrained = append(onDrained, id)
		}
	}
	if n := adminDelete(t, n2, http.MethodDelete, "/sessions?upstream="+url.QueryEscape(drained), ""); n != len(onDrained) || n == 0 {
		t.Fatalf("draining %s: deleted %d, want its %d sessions", drained, n, len(onDrained))
	}
	placedAnew(n1, n2, onDrained)

	if n := adminDelete(t, n1, http.MethodDelete, "/sessions", ""); n != len(ids) {
		t.Fatalf("deleting all: deleted %d, want %d", n, len(ids))
	}
	placedAnew(n2, n1, ids)
}

// adminDelete sends a deletion (method, path under the node's policy, body)
// and returns how many sessions it deleted.
func adminDelete(t *testing.T, n *node, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.adminAddr+"/soap-affinity/policies/LoadBalanceProxy"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Deleted int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: status %d, %v", path, resp.StatusCode, err)
	}
	return out.Deleted
}
