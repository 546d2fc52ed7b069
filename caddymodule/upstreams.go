package caddymodule

import (
	"fmt"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// policyStates holds, by policy name, what an operator set on a policy's
// upstreams (drains): it outlives config reloads, and changes of the table
// settings, which start a new table under the same name.
var policyStates = caddy.NewUsagePool()

// policyState is the operator's state of one policy name, and the policy
// instances (one per reverse_proxy and config load) that use it.
type policyState struct {
	name string
	// drains are the policy's drains, or this node's copy of those kept in
	// Redis.
	drains sessionaffinity.DrainSet

	mu        sync.Mutex
	instances []*SimpleClientSession // provisioned, not cleaned up; oldest first
}

// Destruct implements caddy.Destructor: no config uses the name any more.
func (s *policyState) Destruct() error { return nil }

// loadPolicyState returns the state of name, creating it if no instance holds
// it, and adds p to its instances. The caller releases it with releaseState.
func loadPolicyState(name string, p *SimpleClientSession) *policyState {
	val, _, _ := policyStates.LoadOrNew(name, func() (caddy.Destructor, error) {
		return &policyState{name: name}, nil
	})
	s := val.(*policyState)
	s.mu.Lock()
	s.instances = append(s.instances, p)
	s.mu.Unlock()
	return s
}

// release removes p from the instances and forgets the drains of upstreams
// that no remaining instance has: after a reload, those the new config
// removed. It returns the forgotten ones.
func (s *policyState) release(p *SimpleClientSession) ([]string, error) {
	s.mu.Lock()
	s.instances = slices.DeleteFunc(s.instances, func(q *SimpleClientSession) bool { return q == p })
	remaining := slices.Clone(s.instances)
	s.mu.Unlock()
	_, _ = policyStates.Delete(s.name)
	if len(remaining) == 0 {
		return nil, nil // the name is gone, and its state with it (or p failed to provision)
	}
	configured := map[string]bool{}
	for _, q := range remaining {
		keys, known := q.configuredUpstreams()
		if !known {
			return nil, nil // dynamic upstreams: any upstream may come back
		}
		for _, k := range keys {
			configured[k] = true
		}
	}
	forgotten, err := remaining[len(remaining)-1].drains.Retain(func(u string) bool { return configured[u] })
	if err != nil {
		err = fmt.Errorf("forgetting the drains of upstreams no longer configured: %w", err)
	}
	return forgotten, err
}

// newest returns the most recently provisioned instance of the name, which
// stands for it in the admin API and the metrics.
func (s *policyState) newest() *SimpleClientSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.instances) == 0 {
		return nil
	}
	return s.instances[len(s.instances)-1]
}

// liveStates returns the state of every policy name in use.
func liveStates() map[string]*policyState {
	live := map[string]*policyState{}
	policyStates.Range(func(key, value any) bool {
		live[key.(string)] = value.(*policyState)
		return true
	})
	return live
}

// configuredUpstreams returns the keys of the upstreams of the policy's
// reverse_proxy, and whether they are known: they are not for dynamic
// upstreams, or a policy used outside a reverse_proxy.
func (p *SimpleClientSession) configuredUpstreams() (keys []string, known bool) {
	if p.proxy == nil || p.proxy.DynamicUpstreams != nil {
		return nil, false
	}
	keys = make([]string, len(p.proxy.Upstreams))
	for i, u := range p.proxy.Upstreams {
		keys[i] = u.String()
	}
	return keys, true
}

// configuredUpstream returns the upstream of the policy's reverse_proxy whose
// key is key, or nil.
func (p *SimpleClientSession) configuredUpstream(key string) *reverseproxy.Upstream {
	if p.proxy == nil {
		return nil
	}
	for _, u := range p.proxy.Upstreams {
		if u.String() == key {
			return u
		}
	}
	return nil
}

// upstreamInfo describes one upstream of a policy.
type upstreamInfo struct {
	Upstream  string `json:"upstream"`
	Sessions  int    `json:"sessions"`
	Draining  bool   `json:"draining"`
	Available bool   `json:"available"`
}

// upstreams describes the upstreams of the policy's reverse_proxy, in config
// order; nil when they are not known (dynamic upstreams).
func (s *policyState) upstreams() []upstreamInfo {
	p := s.newest()
	if p == nil || p.proxy == nil || p.proxy.DynamicUpstreams != nil {
		return nil
	}
	p.drains.Any() // reads shared drains afresh
	list := make([]upstreamInfo, 0, len(p.proxy.Upstreams))
	for _, u := range p.proxy.Upstreams {
		list = append(list, p.upstreamInfo(u))
	}
	return list
}

// upstreamInfo describes u, with the drains as last read.
func (p *SimpleClientSession) upstreamInfo(u *reverseproxy.Upstream) upstreamInfo {
	key := u.String()
	return upstreamInfo{
		Upstream:  key,
		Sessions:  p.sessionCounts.SessionsOn(key),
		Draining:  p.drains.Draining(key),
		Available: u.Host != nil && u.Available(),
	}
}

// findProxy finds the reverse_proxy handler being provisioned with the policy.
func findProxy(ctx caddy.Context) *reverseproxy.Handler {
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			return h
		}
	}
	return nil
}
