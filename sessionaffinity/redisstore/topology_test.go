package redisstore

import (
	"crypto/tls"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// TestTLS runs two nodes against a redis-server that speaks only TLS, with a
// CA the test made; a node that does not trust the CA stays on its table.
func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t)
	tc, err := TLSFiles{CA: srv.CAFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	opts := ClientOptions{Addresses: []string{srv.Addr}, TLS: tc}
	a, b := newNode(t, opts, twoMinutes, Config{}), newNode(t, opts, twoMinutes, Config{})
	requireShared(t, srv.Server, a, b, "s")
	if a.out.errors.Load()+b.out.errors.Load() != 0 {
		t.Fatal("redis errors over TLS")
	}

	untrusting := newNode(t, ClientOptions{Addresses: []string{srv.Addr}, TLS: &tlsNoRoots}, twoMinutes, Config{})
	if untrusting.out.downs.Load() != 1 {
		t.Fatalf("a client that does not trust the server's CA: %d outages reported, want 1", untrusting.out.downs.Load())
	}
	if got, _ := untrusting.Bind("t", "u2"); got != "u2" {
		t.Fatalf("untrusting node's Bind = %q, want its local u2", got)
	}
}

// TestSentinelFailover kills the master of a Sentinel setup under load on two
// nodes: every lookup keeps its session's upstream throughout, the clients
// follow the promotion of the replica, and the nodes share new sessions
// through the new master.
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	opts := ClientOptions{Addresses: s.SentinelAddrs(), MasterName: s.MasterName}
	cfg := Config{Backoff: 100 * time.Millisecond}
	nodes := []node{newNode(t, opts, twoMinutes, cfg), newNode(t, opts, twoMinutes, cfg)}
	home := map[string]string{}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "sentinel-" + strconv.Itoa(i)
		home[ids[i]], _ = nodes[i%2].Bind(ids[i], "u"+strconv.Itoa(i%3))
		if up, ok := nodes[(i+1)%2].Lookup(ids[i]); !ok || up != home[ids[i]] {
			t.Fatalf("%s: other node sees %q, %v", ids[i], up, ok)
		}
	}
	redistest.Eventually(t, 20*time.Second, "the replica to hold every session", func() bool { return s.Replica.Get("test:"+ids[99]) != "" })

	var lookups, wrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[i%len(ids)]
				up, ok := nodes[w%2].Lookup(id)
				lookups.Add(1)
				if !ok || up != home[id] {
					wrong.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	old := s.CurrentMaster(t)
	s.Master.Stop()
	redistest.Eventually(t, 20*time.Second, "the sentinels to promote the replica", func() bool { return s.CurrentMaster(t) == s.Replica.Addr })
	// The clients follow: a new session bound on one node reaches the new
	// master and the other node.
	redistest.Eventually(t, 20*time.Second, "a new session to be shared through the new master", func() bool {
		up, _ := nodes[0].Bind("after-failover", "u2")
		got, ok := nodes[1].Lookup("after-failover")
		return ok && got == up && s.Replica.Get("test:after-failover") == up
	})
	close(stop)
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d of %d lookups lost their session's upstream across the failover", wrong.Load(), lookups.Load())
	}
	t.Logf("master %s killed, replica %s promoted; %d lookups, all on their session's upstream", old, s.Replica.Addr, lookups.Load())
}

// TestCluster spreads sessions over the slots of a 3-master Cluster, restarts
// one master, and checks that the sessions survive and that a node which never
// saw them finds them all.
func TestCluster(t *testing.T) {
	masters := redistest.StartCluster(t, 3)
	opts := ClientOptions{Addresses: []string{masters[0].Addr, masters[1].Addr}}
	// The count sets are asked for, and left out: a script may touch no
	// other key than its session's there. A 5s command timeout: a busy
	// machine can keep a new Cluster client's first command (it reads the
	// slots first) past the default second, and the binds made during the
	// backoff that follows stay local, so that no master holds a key (a run
	// under load failed so); the restart below fails commands at once.
	cfg := Config{Backoff: 100 * time.Millisecond, CountSets: "test#sessions:", CommandTimeout: 5 * time.Second}
	a := newNode(t, opts, twoMinutes, cfg)
	home := map[string]string{}
	for i := range 300 {
		id := "cluster-" + strconv.Itoa(i)
		home[id], _ = a.Bind(id, "u"+strconv.Itoa(i%3))
	}
	for i, m := range masters {
		if n, err := m.Do("DBSIZE"); err != nil || n == "0" {
			t.Fatalf("master %d holds %s keys (%v): the sessions should spread over the slots", i, n, err)
		}
	}
	counts := a.Counts("test#counts", "a", 0)
	t.Cleanup(counts.Close)
	if err := counts.Refresh([]string{"u0"}); err != nil || counts.SessionsOn("u0") != 100 {
		t.Fatalf("published counts on a Cluster: u0 %d, %v; want 100", counts.SessionsOn("u0"), err)
	}
	masters[1].Stop()
	for id, up := range home { // routed on a's table for the stopped master's slots
		if got, ok := a.Lookup(id); !ok || got != up {
			t.Fatalf("%s with a master down: %q, %v; want %s", id, got, ok, up)
		}
	}
	masters[1].Restart()
	redistest.WaitClusterOK(t, masters)
	b := newNode(t, opts, twoMinutes, cfg)
	redistest.Eventually(t, 20*time.Second, "a fresh node to find every session", func() bool {
		for id, up := range home {
			if got, ok := b.Lookup(id); !ok || got != up {
				return false
			}
		}
		return true
	})
	if e := a.out.errors.Load(); e == 0 {
		t.Fatal("no redis error counted while a master was down")
	}
}

// tlsNoRoots trusts no CA but the system's, which did not sign the test's
// server certificate.
var tlsNoRoots = tls.Config{MinVersion: tls.VersionTLS12}
