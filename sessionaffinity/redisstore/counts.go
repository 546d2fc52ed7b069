package redisstore

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Counts counts a policy's live sessions per upstream over every node that
// shares it through Redis: this node's own count, live, plus what each other
// node last published. Every node publishes the counts of its local table
// every interval, in a Redis hash (one field per node), and reads the others'
// in the same round trip. So a count lags the other nodes' new sessions by up
// to one interval, and a session in use on several nodes is counted on each
// of them (each holds a copy). A node that stops publishing drops out after
// three intervals (at least 3s).
type Counts struct {
	store  *Store
	key    string
	node   string
	every  time.Duration
	others atomic.Pointer[map[string]int]
	stop   chan struct{}
	done   chan struct{}
}

var _ sessionaffinity.SessionCounter = (*Counts)(nil)

// published is one node's entry in the hash.
type published struct {
	At     int64          `json:"at"` // unix milliseconds
	Counts map[string]int `json:"counts"`
}

// Counts starts publishing this node's counts to the hash at key, as the
// field node, every interval (0: only when sync is called). Close stops it.
// Successive configs of one process should use one node name, so that a
// reload does not count the process twice.
func (s *Store) Counts(key, node string, every time.Duration) *Counts {
	c := &Counts{store: s, key: key, node: node, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	if every <= 0 {
		close(c.done)
		return c
	}
	go c.loop()
	return c
}

func (c *Counts) loop() {
	defer close(c.done)
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		_ = c.sync()
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
	}
}

// Close stops publishing.
func (c *Counts) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// SessionsOn returns the sessions bound to upstream on this node and, as last
// published, on the others.
func (c *Counts) SessionsOn(upstream string) int {
	n := c.store.local.SessionsOn(upstream)
	if others := c.others.Load(); others != nil {
		n += (*others)[upstream]
	}
	return n
}

// sync publishes this node's counts and reads the other nodes', in one round
// trip. While Redis fails, the others' last counts stay.
func (c *Counts) sync() error {
	now := time.Now()
	counts := map[string]int{}
	for upstream, n := range c.store.local.UpstreamCounts() {
		counts[upstream] = n
	}
	mine, err := json.Marshal(published{At: now.UnixMilli(), Counts: counts})
	if err != nil {
		return err
	}
	conn, err := c.store.client.connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainWriteTimeout)
	defer cancel()
	resps := conn.DoMulti(ctx,
		conn.B().Hset().Key(c.key).FieldValue().FieldValue(c.node, string(mine)).Build(),
		conn.B().Pexpire().Key(c.key).Milliseconds(max(3*c.every, time.Minute).Milliseconds()).Build(),
		conn.B().Hgetall().Key(c.key).Build())
	all, err := resps[2].AsStrMap()
	if err != nil {
		return err
	}
	stale := now.Add(-3 * max(c.every, time.Second)).UnixMilli()
	others := map[string]int{}
	for node, value := range all {
		var p published
		if node == c.node || json.Unmarshal([]byte(value), &p) != nil || p.At < stale {
			continue
		}
		for upstream, n := range p.Counts {
			others[upstream] += n
		}
	}
	c.others.Store(&others)
	return nil
}
