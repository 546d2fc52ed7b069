package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// upstreamRow is one row of GET .../upstreams.
type upstreamRow struct {
	Upstream string
	Sessions int
	Draining bool
	Drained  bool
	Deadline time.Time
}

// adminGet decodes the answer of GET path under a node's policy into out.
func adminGet(t *testing.T, n *node, path string, out any) {
	t.Helper()
	resp, err := nodeClient.Get("http://" + n.adminAddr + "/soap-affinity/policies/LoadBalanceProxy/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s of %s: status %d, %v", path, n.adminAddr, resp.StatusCode, err)
	}
}

// upstreamRows returns a node's upstream listing, by upstream.
func upstreamRows(t *testing.T, n *node) map[string]upstreamRow {
	t.Helper()
	var list struct{ Upstreams []upstreamRow }
	adminGet(t, n, "upstreams", &list)
	rows := map[string]upstreamRow{}
	for _, u := range list.Upstreams {
		rows[u.Upstream] = u
	}
	return rows
}

// listedCounts is the sessions per upstream a node lists (0s left out).
func listedCounts(t *testing.T, n *node) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for u, row := range upstreamRows(t, n) {
		if row.Sessions > 0 {
			counts[u] = row.Sessions
		}
	}
	return counts
}

// tableCounts is the sessions per upstream in a node's own table, as its
// admin API pages them.
func tableCounts(t *testing.T, n *node) map[string]int {
	t.Helper()
	var page struct {
		Sessions   []struct{ Upstream string }
		NextCursor string `json:"next_cursor"`
	}
	if adminGet(t, n, "sessions?limit=1000", &page); page.NextCursor != "" {
		t.Fatalf("sessions of %s: more than a page", n.adminAddr)
	}
	counts := map[string]int{}
	for _, s := range page.Sessions {
		counts[s.Upstream]++
	}
	return counts
}

// redisCounts is the sessions of ids per upstream as Redis binds them.
func redisCounts(t *testing.T, srv *redistest.Server, ids []string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, id := range ids {
		if up := srv.Get("soap_affinity:LoadBalanceProxy:" + id); up != "" {
			counts[up]++
		}
	}
	return counts
}

// requireCountsAgree checks that both nodes list as many sessions per
// upstream as Redis holds and as each node's own table holds.
func requireCountsAgree(t *testing.T, when string, srv *redistest.Server, ids []string, nodes ...*node) map[string]int {
	t.Helper()
	inRedis := redisCounts(t, srv, ids)
	for i, n := range nodes {
		if got := listedCounts(t, n); !maps.Equal(got, inRedis) {
			t.Errorf("%s: node %d lists %v, redis holds %v", when, i+1, got, inRedis)
		}
		if got := tableCounts(t, n); !maps.Equal(got, inRedis) {
			t.Errorf("%s: node %d's table holds %v, redis %v", when, i+1, got, inRedis)
		}
	}
	return inRedis
}

// cliRun is a `caddy soap-affinity` command running in the background, its
// output lines read as they come.
type cliRun struct {
	lines chan string
	done  chan error
}

func startCLI(t *testing.T, args ...string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, caddyBin, append([]string{"soap-affinity"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &cliRun{lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		_, _ = io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil {
			c.done <- fmt.Errorf("%v: %s", err, stderr.String())
		}
		close(c.done)
	}()
	return c
}

// expect waits (at most 30s) for the command's next line that contains want,
// and returns it.
func (c *cliRun) expect(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("the command ended before printing %q", want)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			t.Fatalf("no line with %q in 30s", want)
		}
	}
}

// ended waits (at most 30s) for the command to exit and returns its error.
func (c *cliRun) ended(t *testing.T) error {
	t.Helper()
	for range c.lines {
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not exit in 30s")
		return nil
	}
}

// TestRedisDrainsThatFinish is issue 23's "drains that finish" on two nodes:
// 30 sessions, each used through both nodes, count 30 on each (not once per
// node), as Redis and each node's table hold them. `drain --wait` on node 2
// prints the count as sessions go through node 1's admin API and returns
// when none is left; a drain with a 2s deadline started through node 1 moves
// the sessions left on their next request, sent to both nodes at once,
// counted as drain_deadline once per session across the two nodes, and both
// nodes list the upstream as drained.
func TestRedisDrainsThatFinish(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	nodes := []*node{startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)}
	ids := sessionIDs("finish", 30)
	home := map[string]string{}
	useEverywhere := func(ids []string) {
		for _, id := range ids {
			home[id] = nodes[0].mustSend(t, id)
			if got := nodes[1].mustSend(t, id); got != home[id] {
				t.Fatalf("session %s on %s through node 1, %s through node 2", id, home[id], got)
			}
		}
	}
	useEverywhere(ids)
	counts := requireCountsAgree(t, "30 sessions used through both nodes", srv, ids, nodes...)
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != len(ids) {
		t.Fatalf("redis holds %d sessions (%v), want %d", total, counts, len(ids))
	}

	// A drain without a deadline, waited on through node 2, ends when node
	// 1's admin API has deleted its sessions one by one.
	waited := bs[0].addr
	var own []string
	for _, id := range ids {
		if home[id] == waited {
			own = append(own, id)
		}
	}
	wait := startCLI(t, "drain", "LoadBalanceProxy", waited, "--wait", "--timeout", "50s", "--address", nodes[1].adminAddr)
	wait.expect(t, fmt.Sprintf("%s  %d  ", waited, len(own)))
	for i, id := range own {
		if n := adminDelete(t, nodes[0], http.MethodPost, "/sessions/forget", `{"id":"`+id+`"}`); n != 1 {
			t.Fatalf("forgetting %s: %d deleted", id, n)
		}
		if left := len(own) - i - 1; left > 0 {
			wait.expect(t, fmt.Sprintf("%s  %d left", waited, left))
		}
	}
	wait.expect(t, waited+"  drained")
	if err := wait.ended(t); err != nil {
		t.Fatalf("drain --wait: %v", err)
	}
	for i, n := range nodes {
		if row := upstreamRows(t, n)[waited]; !row.Drained || row.Sessions != 0 {
			t.Errorf("node %d lists the waited upstream as %+v, want drained", i+1, row)
		}
	}
	if adminDrain(t, nodes[0], http.MethodDelete, waited) {
		t.Fatal("the undrain answered draining")
	}
	useEverywhere(own) // placed anew
	requireCountsAgree(t, "after the waited drain", srv, ids, nodes...)

	// A drain with a deadline: the sessions left are placed anew once it
	// passes.
	drained := bs[1].addr
	own = own[:0]
	for _, id := range ids {
		if home[id] == drained {
			own = append(own, id)
		}
	}
	if len(own) == 0 {
		t.Fatalf("no session on %s: %v", drained, home)
	}
	wait = startCLI(t, "drain", "LoadBalanceProxy", drained, "--deadline", "2s", "--wait", "--address", nodes[0].adminAddr)
	line := wait.expect(t, "deadline passed")
	if !strings.Contains(line, fmt.Sprintf("%d left", len(own))) {
		t.Errorf("--wait at the deadline printed %q, want %d left", line, len(own))
	}
	if err := wait.ended(t); err != nil {
		t.Fatalf("drain --deadline 2s --wait: %v", err)
	}
	rebinds := func() float64 {
		sum := 0.0
		for _, n := range nodes {
			sum += metricSum(t, n.adminAddr, `caddy_soap_affinity_rebinds_total{policy="LoadBalanceProxy",reason="drain_deadline"}`)
		}
		return sum
	}
	before := rebinds()
	// Each session's next request reaches both nodes at once, so that often
	// both find it on the drained upstream and both try to move it.
	for _, id := range own {
		var through [2]string
		var errs [2]error
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() { through[i], errs[i] = n.send(id) })
		}
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatal(err)
		}
		if through[0] != through[1] {
			t.Fatalf("session %s past the deadline on %s through node 1, %s through node 2", id, through[0], through[1])
		}
		home[id] = through[0]
	}
	for _, id := range own {
		if home[id] == drained {
			t.Errorf("session %s stayed on %s past the deadline", id, drained)
		}
	}
	// One node moves each session; the other follows it, either from
	// Redis's notice of the move or, before that notice reached it, from the
	// compare-and-set that finds the session moved already, to where it
	// would have moved it: a follow, not a rebind. One per session moved.
	moved := rebinds() - before
	if moved != float64(len(own)) {
		t.Errorf("%v drain_deadline rebinds on the two nodes, want %d (once per session moved)", moved, len(own))
	}
	for i, n := range nodes {
		redistest.Eventually(t, 10*time.Second, fmt.Sprintf("node %d to list %s as drained", i+1, drained), func() bool {
			row := upstreamRows(t, n)[drained]
			return row.Drained && row.Sessions == 0 && !row.Deadline.IsZero()
		})
		if got := metricSum(t, n.adminAddr, `caddy_soap_affinity_upstream_drained{policy="LoadBalanceProxy",upstream="`+drained+`"}`); got != 1 {
			t.Errorf("node %d's drained gauge is %v, want 1", i+1, got)
		}
	}
	requireCountsAgree(t, "after the deadline", srv, ids, nodes...)
	again := startCLI(t, "drain", "LoadBalanceProxy", drained, "--wait", "--timeout", "10s", "--json", "--address", nodes[1].adminAddr)
	again.expect(t, `"upstream":"`+drained+`","sessions":0,"draining":true,"drained":true`)
	if err := again.ended(t); err != nil {
		t.Fatalf("drain --wait on a drained upstream: %v", err)
	}
	t.Logf("30 sessions counted once on each node; %d moved by the 2s deadline, counted %v times", len(own), moved)
}
