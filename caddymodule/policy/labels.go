package policy

import (
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/prometheus/client_golang/prometheus"
)

// bindings_total has a series per policy and upstream. To keep their number
// bounded with dynamic upstreams and across reloads, each policy instance
// claims the upstream labels it uses: its proxy's static upstreams when it is
// provisioned (so counts go on across a reload that keeps them), and every
// upstream it binds a session to. A binding to an upstream not claimed yet
// drops the instance's claims on upstreams no longer in the pool it sees, and
// Cleanup drops all its claims. A series no live instance claims is deleted.
var upstreamClaims = struct {
	sync.Mutex
	count map[[2]string]int // (policy, upstream) -> live instances claiming it
}{count: map[[2]string]int{}}

// claimedLabels is one policy instance's claims.
type claimedLabels struct {
	counters sync.Map // upstream -> prometheus.Counter, read without the lock
}

// bound counts a session bound to upstream, new or moved there; pool is the
// pool it was chosen from.
func (m *policyMetrics) bound(upstream string, pool reverseproxy.UpstreamPool) {
	if c, ok := m.claims.counters.Load(upstream); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	upstreamClaims.Lock()
	defer upstreamClaims.Unlock()
	m.claims.counters.Range(func(key, _ any) bool {
		if u := key.(string); !slices.ContainsFunc(pool, func(up *reverseproxy.Upstream) bool { return up.String() == u }) {
			m.releaseLocked(u)
		}
		return true
	})
	m.claimLocked(upstream).Inc()
}

// claimStatic claims the static upstreams of the policy's reverse_proxy
// (nil: none).
func (m *policyMetrics) claimStatic(proxy *reverseproxy.Handler) {
	if proxy == nil {
		return
	}
	upstreamClaims.Lock()
	defer upstreamClaims.Unlock()
	for _, u := range proxy.Upstreams {
		m.claimLocked(u.String())
	}
}

func (m *policyMetrics) claimLocked(upstream string) prometheus.Counter {
	if c, ok := m.claims.counters.Load(upstream); ok {
		return c.(prometheus.Counter)
	}
	upstreamClaims.count[[2]string{m.name, upstream}]++
	c := metrics.bindings.WithLabelValues(m.name, upstream)
	m.claims.counters.Store(upstream, c)
	return c
}

func (m *policyMetrics) releaseLocked(upstream string) {
	m.claims.counters.Delete(upstream)
	key := [2]string{m.name, upstream}
	if upstreamClaims.count[key]--; upstreamClaims.count[key] <= 0 {
		delete(upstreamClaims.count, key)
		metrics.bindings.DeleteLabelValues(m.name, upstream)
	}
}

// release drops every claim of the instance (its config is unloaded).
func (m *policyMetrics) release() {
	upstreamClaims.Lock()
	defer upstreamClaims.Unlock()
	m.claims.counters.Range(func(key, _ any) bool {
		m.releaseLocked(key.(string))
		return true
	})
}
