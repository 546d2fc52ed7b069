package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// The two-node tests run examples/two-nodes.Caddyfile, as docs/redis.md shows it,
// on ports of their own: nodes on 9121 and up, admin endpoints on 3021 and up.
const twoNodesConfig = "examples/two-nodes.Caddyfile"

// docs/redis.md's commands to run the two nodes.
var twoNodesCommands = []string{
	"NODE_PORT=8291 ADMIN_PORT=2020 go run ./cmd/caddy run --config examples/two-nodes.Caddyfile",
	"NODE_PORT=8292 ADMIN_PORT=2021 go run ./cmd/caddy run --config examples/two-nodes.Caddyfile",
}

// stockBackend is an upstream that names itself in X-Backend, and can be
// stopped and started again on the same port.
type stockBackend struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startStockBackends(t *testing.T, n int) []*stockBackend {
	t.Helper()
	bs := make([]*stockBackend, n)
	for i := range bs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = &stockBackend{addr: ln.Addr().String()}
		bs[i].serve(ln)
		t.Cleanup(bs[i].stop)
	}
	return bs
}

func (b *stockBackend) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", b.addr)
		w.WriteHeader(http.StatusAccepted)
	})}
	// Every request on a new connection: a stopped backend then refuses the
	// dial, which Caddy retries, instead of breaking a kept-alive connection
	// mid-request, which it does not retry for a POST.
	srv.SetKeepAlivesEnabled(false)
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (b *stockBackend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

func (b *stockBackend) start(t *testing.T) {
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		t.Fatalf("restarting backend %s: %v", b.addr, err)
	}
	b.serve(ln)
}

// node is one Caddy running the two-node example.
type node struct {
	*caddyProcess
	url string
}

// startNode runs the example as node n (1, 2, ...) against redisAddr and bs,
// with extra environment variables, if any.
func startNode(t *testing.T, n int, redisAddr string, bs []*stockBackend, extra ...string) *node {
	t.Helper()
	return startNodeOf(t, twoNodesConfig, n, redisAddr, bs, extra...)
}

// startNodeOf is startNode with another config that takes the example's
// environment variables.
func startNodeOf(t *testing.T, config string, n int, redisAddr string, bs []*stockBackend, extra ...string) *node {
	t.Helper()
	port, admin := 9120+n, 3020+n
	env := []string{
		fmt.Sprintf("NODE_PORT=%d", port),
		fmt.Sprintf("ADMIN_PORT=%d", admin),
		"REDIS_ADDRESS=" + redisAddr,
	}
	for i, b := range bs {
		env = append(env, fmt.Sprintf("BACKEND%d=%s", i+1, b.addr))
	}
	env = append(env, extra...)
	p := startCaddy(t, config, fmt.Sprintf("localhost:%d", admin), env...)
	return &node{caddyProcess: p, url: fmt.Sprintf("http://localhost:%d/services/LoadBalanceProxy", port)}
}

var nodeClient = &http.Client{Timeout: 10 * time.Second}

// send posts the sample's placeOrder for session id and returns the backend
// that answered, or an error for anything but 202.
func (n *node) send(id string) (string, error) { return n.sendWithin(id, nodeClient) }

// sendWithin is send with client.
func (n *node) sendWithin(id string, client *http.Client) (string, error) {
	req, err := http.NewRequest(http.MethodPost, n.url, strings.NewReader(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	req.Header.Set("simpleClientSession", id)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("session %s: status %d", id, resp.StatusCode)
	}
	return resp.Header.Get("X-Backend"), nil
}

func (n *node) mustSend(t *testing.T, id string) string {
	t.Helper()
	b, err := n.send(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sessionIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return ids
}

// TestRedisTwoNodesShareSessions sends each session's requests to both nodes
// in turn: every request of a session reaches the same backend.
func TestRedisTwoNodesShareSessions(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	nodes := []*node{startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)}

	used := map[string]bool{}
	for _, id := range sessionIDs("shared", 30) {
		home := nodes[len(id)%2].mustSend(t, id)
		used[home] = true
		for i := range 4 {
			if got := nodes[i%2].mustSend(t, id); got != home {
				t.Fatalf("session %s: node %d sent it to %s, bound to %s", id, i%2+1, got, home)
			}
		}
		if stored := srv.Get("soap_affinity:LoadBalanceProxy:" + id); stored != home {
			t.Fatalf("session %s on %s, redis holds %q", id, home, stored)
		}
	}
	if len(used) != 3 {
		t.Fatalf("sessions went to %d backends, want all 3", len(used))
	}
}

// TestRedisConcurrentFirstRequestsBindOnce sends the first requests of each
// session to both nodes at once: they agree on one backend.
func TestRedisConcurrentFirstRequestsBindOnce(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	nodes := []*node{startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)}

	for _, id := range sessionIDs("race", 20) {
		got := make([]string, 6)
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], errs[i] = nodes[i%2].send(id) })
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("session %s: concurrent first requests went to %q", id, got)
			}
		}
	}
}

// TestRedisStoppedMidLoad stops Redis under load on both nodes: no request
// fails and every session stays on its backend; each node warns once; once
// Redis is back, the nodes share sessions through it again.
func TestRedisStoppedMidLoad(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	// The outage is Redis stopped, which every command sees at once (its
	// connections reset, its port refuses): a command timeout well past the
	// default 1s keeps a busy machine's slow moment from being reported as
	// an outage of its own, which would break the count of warnings.
	nodes := []*node{startNode(t, 1, srv.Addr, bs, "REDIS_TIMEOUT=5s"), startNode(t, 2, srv.Addr, bs, "REDIS_TIMEOUT=5s")}

	ids := sessionIDs("load", 40)
	home := map[string]string{}
	for _, id := range ids {
		home[id] = nodes[0].mustSend(t, id)
		if got := nodes[1].mustSend(t, id); got != home[id] {
			t.Fatalf("session %s: node 2 sent it to %s, bound to %s", id, got, home[id])
		}
	}
	var sent, failed atomic.Int64
	var problems sync.Map
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			n := w % 2 // two workers on each node
			for i := w; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				id := ids[i%len(ids)]
				got, err := nodes[n].send(id)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					problems.Store(id, err.Error())
				} else if got != home[id] {
					problems.Store(id, fmt.Sprintf("node %d sent it to %s, bound to %s", n+1, got, home[id]))
				}
			}
		})
	}
	// Under load: every session has been sent through both nodes again.
	redistest.Eventually(t, 15*time.Second, "the load to get going", func() bool { return sent.Load() >= 2*int64(len(ids)) })
	srv.Stop()
	stopped := time.Now()
	// Each node sees the outage (a busy machine can leave a node's requests
	// slow to reach Redis), then Redis stays down for 2s in all, so that the
	// nodes' probes fail too.
	logged := func(what string) {
		t.Helper()
		for i, n := range nodes {
			redistest.Eventually(t, 15*time.Second, fmt.Sprintf("node %d to log %q", i+1, what), func() bool {
				return strings.Contains(n.output(), what)
			})
		}
	}
	logged("redis session store unreachable")
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))
	srv.Restart()
	// Both nodes use Redis again, each after its own backoff: the first node
	// back can have shared every session before the other's next probe, so
	// the sessions being back in Redis does not say that both nodes are.
	logged("redis session store answers again")
	// The restarted (empty) Redis gets the sessions back as the load uses them.
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range ids {
		for srv.Get("soap_affinity:LoadBalanceProxy:"+id) != home[id] {
			if time.Now().After(deadline) {
				t.Errorf("after the restart redis holds %q for %s, want %s",
					srv.Get("soap_affinity:LoadBalanceProxy:"+id), id, home[id])
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	close(stopLoad)
	wg.Wait()

	problems.Range(func(id, p any) bool { t.Errorf("session %s: %s", id, p); return true })
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed while redis was down", failed.Load(), sent.Load())
	}
	t.Logf("%d requests, none failed", sent.Load())

	// New sessions are shared between the nodes again, through Redis (each
	// node's own placement mostly agrees too, not always: a node still off
	// Redis counts sessions from its table, the other from Redis).
	for _, id := range sessionIDs("after", 10) {
		first := nodes[1].mustSend(t, id)
		if stored := srv.Get("soap_affinity:LoadBalanceProxy:" + id); stored != first {
			t.Fatalf("new session %s after the outage: node 2 sent it to %s, redis holds %q", id, first, stored)
		}
		if got := nodes[0].mustSend(t, id); got != first {
			t.Fatalf("new session %s after the outage: node 2 sent it to %s, node 1 to %s", id, first, got)
		}
	}
	for i, n := range nodes {
		n.stop()
		out := n.output()
		if c := strings.Count(out, "redis session store unreachable"); c != 1 {
			t.Errorf("node %d warned %d times about the outage, want once", i+1, c)
		}
		if c := strings.Count(out, "redis session store answers again"); c != 1 {
			t.Errorf("node %d logged the recovery %d times, want once", i+1, c)
		}
	}
}

// TestRedisCaddyRestartKeepsSessions stops both nodes and starts a fresh one:
// the sessions go where they were bound.
func TestRedisCaddyRestartKeepsSessions(t *testing.T) {
	srv := redistest.Start(t)
	bs := startStockBackends(t, 3)
	n1, n2 := startNode(t, 1, srv.Addr, bs), startNode(t, 2, srv.Addr, bs)
	ids := sessionIDs("restart", 30)
	home := map[string]string{}
	for i, id := range ids {
		home[id] = []*node{n1, n2}[i%2].mustSend(t, id)
	}
	n1.stop()
	n2.stop()

	n3 := startNode(t, 3, srv.Addr, bs)
	for _, id := range ids {
		if got := n3.mustSend(t, id); got != home[id] {
			t.Fatalf("after the restart session %s went to %s, bound to %s", id, got, home[id])
		}
	}
}

// TestRedisTwoNodesAsTheReadmeShowsIt runs docs/redis.md's two-node example
// on the page's ports: the demo's backends, two nodes of
// examples/two-nodes.Caddyfile, and the page's requests, whose output is the
// page's. Redis runs as the page starts it, on a port of its own.
func TestRedisTwoNodesAsTheReadmeShowsIt(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot, twoNodesConfig))
	if err != nil {
		t.Fatal(err)
	}
	requireInDoc(t, "docs/redis.md", strings.TrimRight(string(example), "\n"))
	requireInDoc(t, "docs/redis.md", "redis-server --bind 127.0.0.1 --save ''")
	for _, c := range twoNodesCommands {
		requireInDoc(t, "docs/redis.md", c)
	}

	srv := redistest.Start(t)
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	for _, c := range twoNodesCommands {
		env, _, _ := strings.Cut(c, " go run ")
		startCaddy(t, twoNodesConfig, "localhost:"+strings.TrimPrefix(strings.Fields(env)[1], "ADMIN_PORT="),
			append(strings.Fields(env), "REDIS_ADDRESS="+srv.Addr)...)
	}
	for _, s := range readmeSteps(t, "two-nodes") {
		out := strings.Fields(s.run(t))
		if got, want := srv.Get("soap_affinity:LoadBalanceProxy:42"), out[len(out)-1]; got != want {
			t.Fatalf("redis holds %q for session 42, the nodes used %s", got, want)
		}
	}
}
