package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// Counts counts a policy's live sessions per upstream over every node that
// shares it through Redis.
//
// On a single Redis server or Sentinel the counts are exact: the binding
// scripts keep, atomically with each binding, one sorted set per upstream of
// the session keys bound to it, scored by when they expire (see counted). A
// session counts once however many nodes use it, and stops counting when it
// expires. Every interval each node reads the sets in one script that also
// checks the members whose score has passed (a sliding session lives past the
// score its last binding gave it) and drops those that have gone; between two
// reads a node adds the changes of its own table since the last one, so that
// its own new sessions count at once.
//
// On a Cluster a script may touch no key but its session's, so the sets are
// not kept: every node publishes the counts of its local table in a Redis
// hash (one field per node) and reads the others' in the same round trip.
// Those counts lag the other nodes' new sessions by up to one interval, and a
// session in use on several nodes is counted on each of them. A node that
// stops publishing drops out after three intervals (at least 3s).
type Counts struct {
	store *Store
	key   string
	node  string
	every time.Duration

	// exact is the last read of the sets; nil until one succeeds.
	exact atomic.Pointer[exactCounts]
	// wanted are the upstreams asked for, read from the sets on each sync.
	mu     sync.Mutex
	wanted map[string]bool

	others atomic.Pointer[map[string]int]
	stop   chan struct{}
	done   chan struct{}
}

var _ sessionaffinity.SharedCounter = (*Counts)(nil)

// exactCounts is one read of the sets, with this node's own counts at that
// moment, against which its later changes are told.
type exactCounts struct {
	counts map[string]int
	local  map[string]int
}

// published is one node's entry in the hash.
type published struct {
	At     int64          `json:"at"` // unix milliseconds
	Counts map[string]int `json:"counts"`
}

// Counts starts counting, every interval (0: only when Refresh is called);
// key is the hash the nodes publish their own counts in where the exact sets
// are not kept, node this node's field in it. Close stops it. Successive
// configs of one process should use one node name, so that a reload does not
// count the process twice.
func (s *Store) Counts(key, node string, every time.Duration) *Counts {
	c := &Counts{store: s, key: key, node: node, every: every, wanted: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
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

// Close stops counting.
func (c *Counts) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// CountsShared reports whether Redis answers, so that the counts are the
// cluster's (as last published) rather than this node's alone.
func (c *Counts) CountsShared() bool { return c.store.health.answering() }

// SessionsOn returns the live sessions bound to upstream: as last read from
// Redis's sets, plus this node's changes since; or, where the sets are not
// kept, this node's own and the others' as last published.
func (c *Counts) SessionsOn(upstream string) int {
	here := c.store.local.SessionsOn(upstream)
	if e := c.exact.Load(); e != nil {
		n, read := e.counts[upstream]
		if !read {
			c.want(upstream)
		}
		return max(0, n+here-e.local[upstream])
	}
	if others := c.others.Load(); others != nil {
		here += (*others)[upstream]
	}
	return here
}

func (c *Counts) want(upstream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wanted[upstream] = true
}

// Refresh reads the counts of upstreams (and of those asked for before) now,
// so that an admin listing or a scrape shows the cluster's counts as they
// are; while Redis is in an outage it keeps the last ones rather than make
// the listing wait for Redis.
func (c *Counts) Refresh(upstreams []string) error {
	for _, u := range upstreams {
		c.want(u)
	}
	if c.store.health.retryAt.Load() != 0 {
		return errBackingOff
	}
	return c.sync()
}

// sync reads the exact counts, or, where the sets are not kept, publishes
// this node's counts and reads the other nodes'. While Redis fails, the last
// counts stay.
func (c *Counts) sync() error {
	conn, err := c.store.client.connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainWriteTimeout)
	defer cancel()
	if sets := c.store.setsArg(conn); sets != "" {
		return c.readSets(ctx, conn, sets)
	}
	c.exact.Store(nil)
	return c.publish(ctx, conn)
}

// countBatch bounds how many passed members of one set a read checks, so
// that a read after a long pause does not hold Redis up; the rest count
// until a later read checks them.
const countBatch = 1000

// readSets reads the sets of every upstream wanted or known to the local
// table, in one script.
func (c *Counts) readSets(ctx context.Context, conn rueidis.Client, sets string) error {
	local := maps.Collect(c.store.local.UpstreamCounts())
	c.mu.Lock()
	for u := range local {
		c.wanted[u] = true
	}
	upstreams := slices.Sorted(maps.Keys(c.wanted))
	c.mu.Unlock()
	if len(upstreams) == 0 {
		c.exact.Store(&exactCounts{counts: map[string]int{}, local: local})
		return nil
	}
	args := append([]string{sets, strconv.Itoa(countBatch)}, upstreams...)
	reply, err := countScript.Exec(ctx, conn, nil, args).AsIntSlice()
	if err == nil && len(reply) != len(upstreams) {
		err = errCountReply
	}
	if err != nil {
		return err
	}
	counts := make(map[string]int, len(upstreams))
	for i, u := range upstreams {
		counts[u] = int(reply[i])
	}
	c.exact.Store(&exactCounts{counts: counts, local: local})
	return nil
}

var errCountReply = errors.New("redis count script answered another number of counts than of upstreams asked for")

// publish publishes this node's counts and reads the other nodes', in one
// round trip.
func (c *Counts) publish(ctx context.Context, conn rueidis.Client) error {
	now := time.Now()
	mine, err := json.Marshal(published{At: now.UnixMilli(), Counts: maps.Collect(c.store.local.UpstreamCounts())})
	if err != nil {
		return err
	}
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

// setsArg is the last argument of every binding script: the prefix of the
// per-upstream sets that count the sessions, or "" for none, where a script
// may touch no key but its session's (a Cluster).
func (s *Store) setsArg(conn rueidis.Client) string {
	if s.countSets == "" || conn.Mode() == rueidis.ClientModeCluster {
		return ""
	}
	return s.countSets
}

// counted wraps the body of a binding script so that, unless its last
// argument is empty, it keeps the per-upstream sets in step with the binding
// of KEYS[1], atomically: a binding that leaves an upstream leaves its set,
// and the upstream it is bound to afterwards scores it with when its key
// expires (in Redis's clock, so that every node reads the same). The sets'
// keys are made in the script, which only a single server or Sentinel allows
// (setsArg). The body's own arguments come first and are unchanged.
func counted(body string) string {
	return `
local sets = ARGV[#ARGV]
local before = sets ~= '' and redis.call('GET', KEYS[1])
local reply = (function()
` + body + `
end)()
if sets ~= '' then
	local after = redis.call('GET', KEYS[1])
	if before and before ~= '' and before ~= after then redis.call('ZREM', sets .. before, KEYS[1]) end
	if after and after ~= '' then
		local t = redis.call('TIME')
		local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
		redis.call('ZADD', sets .. after, now + redis.call('PTTL', KEYS[1]), KEYS[1])
	end
end
return reply
`
}

// countScript counts the sessions of the upstreams ARGV[3...] in their sets
// (prefix ARGV[1]), first checking up to ARGV[2] members of each whose score
// has passed: a member whose key is still bound to the upstream is scored
// with its key's expiry again (a sliding session slid past its score), any
// other leaves the set.
var countScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = {}
for i = 3, #ARGV do
	local up = ARGV[i]
	local set = ARGV[1] .. up
	for _, key in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
		local ttl = redis.call('PTTL', key)
		if ttl > 0 and redis.call('GET', key) == up then
			redis.call('ZADD', set, now + ttl, key)
		else
			redis.call('ZREM', set, key)
		end
	end
	counts[#counts + 1] = redis.call('ZCARD', set)
end
return counts
`)
