// Package state holds what outlives a config reload of a
// simple_client_session policy, in one registry keyed by the policy's name:
// its session tables, its drains, and the policy instances (one per
// reverse_proxy and config load) that use them. A reload provisions the new
// config's instances before it cleans up the old ones, so the new instances
// find the state here and no session or drain is lost.
//
// The admin API and the metrics read the policies through it; they see the
// newest instance of each name, which stands for the name.
package state

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// registry holds a *Policy per policy name.
var registry = caddy.NewUsagePool()

// Policy is the state of one policy name.
type Policy struct {
	name string
	// drains are the policy's drains, or this node's copy of those kept in
	// Redis.
	drains sessionaffinity.MemoryDrains

	mu sync.Mutex
	// tables has one table per table settings in use: a reload that changes
	// the settings starts a new table while the old config still runs.
	tables    []*table
	instances []*Instance // published, not released; oldest first
}

// table is a session table shared by the instances of one name whose table
// settings are the same.
type table struct {
	*sessionaffinity.Table
	settings string
	refs     int
}

// Instance is what one provisioned policy shows the admin API and the
// metrics.
type Instance struct {
	// Table is the instance's session table in this process.
	Table *sessionaffinity.Table
	// Store is the table, or the Redis store in front of it: the admin API
	// deletes through it.
	Store sessionaffinity.Store
	// Drains are the policy's drains as this instance reads them.
	Drains sessionaffinity.Drains
	// Counts counts the sessions per upstream (every node's, with Redis).
	Counts sessionaffinity.SessionCounter
	// Proxy is the reverse_proxy using the policy; nil outside one.
	Proxy *reverseproxy.Handler
	// Logger and LogSessionIDs are the policy's logging settings.
	Logger        *zap.Logger
	LogSessionIDs bool
	// Removed is told of each session that leaves a table of the name on its
	// own (expired, evicted); nil for none.
	Removed func(id, upstream string, cause sessionaffinity.RemovalCause)
}

// Destruct implements caddy.Destructor: no config uses the name any more.
// Its tables were closed as their last instance released them.
func (p *Policy) Destruct() error { return nil }

// Lease is one policy instance's hold on the state of its name.
type Lease struct {
	policy   *Policy
	table    *table
	instance *Instance
}

// Acquire returns a hold on the state of name, with the session table for
// cfg: the one an earlier instance of the same name and settings uses, or a
// new one. The caller gives it back with Release.
func Acquire(name string, cfg sessionaffinity.TableConfig) (*Lease, error) {
	val, _, _ := registry.LoadOrNew(name, func() (caddy.Destructor, error) {
		return &Policy{name: name}, nil
	})
	p := val.(*Policy)
	t, err := p.acquireTable(cfg)
	if err != nil {
		_, _ = registry.Delete(name)
		return nil, err
	}
	return &Lease{policy: p, table: t}, nil
}

func (p *Policy) acquireTable(cfg sessionaffinity.TableConfig) (*table, error) {
	settings := fmt.Sprintf("%d|%s|%s|%s", cfg.MaxSessions, cfg.Timeout, cfg.Expiry, cfg.MaxLifetime)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tables {
		if t.settings == settings {
			t.refs++
			return t, nil
		}
	}
	cfg.OnRemove = p.removed
	st, err := sessionaffinity.NewTable(cfg)
	if err != nil {
		return nil, err
	}
	t := &table{Table: st, settings: settings, refs: 1}
	p.tables = append(p.tables, t)
	return t, nil
}

// removed tells the newest instance of a session that left a table.
func (p *Policy) removed(id, upstream string, cause sessionaffinity.RemovalCause) {
	if i := p.Newest(); i != nil && i.Removed != nil {
		i.Removed(id, upstream, cause)
	}
}

// Table is the lease's session table.
func (l *Lease) Table() *sessionaffinity.Table { return l.table.Table }

// Drains is the name's set of drains in this process.
func (l *Lease) Drains() *sessionaffinity.MemoryDrains { return &l.policy.drains }

// Publish makes i the newest instance of the name, which the admin API and
// the metrics read. A lease publishes once.
func (l *Lease) Publish(i *Instance) {
	l.policy.mu.Lock()
	defer l.policy.mu.Unlock()
	l.instance = i
	l.policy.instances = append(l.policy.instances, i)
}

// Release gives the hold back: the instance leaves the name, its table
// closes if no other instance uses it, and the drains of upstreams that no
// remaining instance has (after a reload, those the new config removed) are
// forgotten and returned.
func (l *Lease) Release() (forgotten []string, err error) {
	p := l.policy
	p.mu.Lock()
	p.instances = slices.DeleteFunc(p.instances, func(i *Instance) bool { return i == l.instance })
	remaining := slices.Clone(p.instances)
	if l.table.refs--; l.table.refs == 0 {
		p.tables = slices.DeleteFunc(p.tables, func(t *table) bool { return t == l.table })
		l.table.Close()
	}
	p.mu.Unlock()
	_, _ = registry.Delete(p.name)
	if l.instance == nil || len(remaining) == 0 {
		return nil, nil // the name is gone, and its state with it (or the instance failed to provision)
	}
	configured := map[string]bool{}
	for _, i := range remaining {
		keys, known := i.ConfiguredUpstreams()
		if !known {
			return nil, nil // dynamic upstreams: any upstream may come back
		}
		for _, k := range keys {
			configured[k] = true
		}
	}
	forgotten, err = remaining[len(remaining)-1].Drains.Retain(func(u string) bool { return configured[u] })
	if err != nil {
		err = fmt.Errorf("forgetting the drains of upstreams no longer configured: %w", err)
	}
	return forgotten, err
}

// Lookup returns the state of the policy named name, if one is in use.
func Lookup(name string) (*Policy, bool) {
	var found *Policy
	registry.Range(func(key, value any) bool {
		if key.(string) == name {
			found = value.(*Policy)
			return false
		}
		return true
	})
	return found, found != nil
}

// Policies returns the state of every policy name in use.
func Policies() []*Policy {
	var list []*Policy
	registry.Range(func(_, value any) bool {
		list = append(list, value.(*Policy))
		return true
	})
	return list
}

// Name is the policy's name.
func (p *Policy) Name() string { return p.name }

// Newest returns the most recently published instance of the name, which
// stands for it; nil while none is.
func (p *Policy) Newest() *Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.instances) == 0 {
		return nil
	}
	return p.instances[len(p.instances)-1]
}

// ConfiguredUpstreams returns the keys of the upstreams of the instance's
// reverse_proxy, and whether they are known: they are not for dynamic
// upstreams, or a policy used outside a reverse_proxy.
func (i *Instance) ConfiguredUpstreams() (keys []string, known bool) {
	if i.Proxy == nil || i.Proxy.DynamicUpstreams != nil {
		return nil, false
	}
	keys = make([]string, len(i.Proxy.Upstreams))
	for n, u := range i.Proxy.Upstreams {
		keys[n] = u.String()
	}
	return keys, true
}

// ConfiguredUpstream returns the upstream of the instance's reverse_proxy
// whose key is key, or nil.
func (i *Instance) ConfiguredUpstream(key string) *reverseproxy.Upstream {
	if i.Proxy == nil {
		return nil
	}
	for _, u := range i.Proxy.Upstreams {
		if u.String() == key {
			return u
		}
	}
	return nil
}

// CountRefresher is a SessionCounter that reads its counts from elsewhere
// (Redis) in the background, and can read them now, for a listing.
type CountRefresher interface {
	Refresh(upstreams []string) error
}

// UpstreamInfo describes one upstream of a policy.
type UpstreamInfo struct {
	Upstream string `json:"upstream"`
	Sessions int    `json:"sessions"`
	Draining bool   `json:"draining"`
	// Drained: draining, and no session is left on it.
	Drained bool `json:"drained,omitempty"`
	// Deadline is when the drain moves the sessions still on it; zero for
	// none.
	Deadline  time.Time `json:"deadline,omitzero"`
	Available bool      `json:"available"`
}

// Upstreams describes the upstreams of the newest instance's reverse_proxy,
// in config order; nil when they are not known (dynamic upstreams).
func (p *Policy) Upstreams() []UpstreamInfo {
	i := p.Newest()
	if i == nil || i.Proxy == nil || i.Proxy.DynamicUpstreams != nil {
		return nil
	}
	i.Drains.Any() // reads shared drains afresh
	if r, ok := i.Counts.(CountRefresher); ok {
		keys, _ := i.ConfiguredUpstreams()
		_ = r.Refresh(keys) // on failure, the last counts read
	}
	list := make([]UpstreamInfo, 0, len(i.Proxy.Upstreams))
	for _, u := range i.Proxy.Upstreams {
		list = append(list, i.UpstreamInfo(u))
	}
	return list
}

// UpstreamInfo describes u, with the drains as last read.
func (i *Instance) UpstreamInfo(u *reverseproxy.Upstream) UpstreamInfo {
	key := u.String()
	info := UpstreamInfo{
		Upstream:  key,
		Sessions:  i.Counts.SessionsOn(key),
		Draining:  i.Drains.Draining(key),
		Available: u.Host != nil && u.Available(),
	}
	if info.Draining {
		info.Drained = info.Sessions == 0
		info.Deadline = i.Drains.Deadline(key)
	}
	return info
}
