package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// drainWriteTimeout bounds an operator's change of a drain, and a
// publication of session counts.
const drainWriteTimeout = 2 * time.Second

// Drains keeps a policy's drains (sessionaffinity.Drains) in a Redis set
// beside its sessions, so that every node of the policy obeys a drain started
// on any of them, and their deadlines in a hash beside the set (upstream ->
// unix milliseconds: an absolute time, so that every node ends a drain alike).
// Each placement reads both from this node's cache of Redis (CLIENT TRACKING:
// no round trip, and Redis drops the cached copy the moment any node changes
// it), so a node obeys a drain from its next placement on; a node that only
// follows sessions reads them at most once a second, to see a deadline pass.
// The mirror is this node's copy: it answers while Redis does not.
type Drains struct {
	store        *Store
	key          string
	deadlinesKey string
	mirror       *sessionaffinity.MemoryDrains
	read         atomic.Int64 // unix nanoseconds of the last read
}

var _ sessionaffinity.Drains = (*Drains)(nil)

// Drains returns the drains kept in Redis at key (their deadlines at
// key+":deadlines"), mirrored in mirror.
func (s *Store) Drains(key string, mirror *sessionaffinity.MemoryDrains) *Drains {
	return &Drains{store: s, key: key, deadlinesKey: key + ":deadlines", mirror: mirror}
}

// Any refreshes the mirror from Redis (or its cache) and reports whether some
// upstream is draining.
func (d *Drains) Any() bool {
	conn, start, ok := d.store.redis()
	if !ok {
		return d.mirror.Any()
	}
	ctx := newDeadline(d.store.cmdTimeout)
	defer ctx.stop()
	resps := conn.DoMultiCache(ctx,
		rueidis.CT(conn.B().Smembers().Key(d.key).Cache(), time.Minute),
		rueidis.CT(conn.B().Hgetall().Key(d.deadlinesKey).Cache(), time.Minute))
	members, err := resps[0].AsStrSlice()
	var deadlines map[string]int64
	if err == nil {
		deadlines, err = resps[1].AsIntMap()
	}
	if err != nil {
		d.store.failed(start, err)
		return d.mirror.Any()
	}
	d.store.health.answered(start)
	d.read.Store(time.Now().UnixNano())
	set := make(map[string]time.Time, len(members))
	for _, u := range members {
		set[u] = time.Time{}
		if ms := deadlines[u]; ms > 0 {
			set[u] = time.UnixMilli(ms).UTC()
		}
	}
	d.mirror.Replace(set)
	return len(members) > 0
}

// drainsReadEvery is how stale the mirror may be when a node asks whether a
// session's upstream is overdue, the only question it asks on a request that
// follows a session.
const drainsReadEvery = time.Second

// Draining reports whether upstream is draining, as Any last read it.
func (d *Drains) Draining(upstream string) bool { return d.mirror.Draining(upstream) }

// Overdue reports whether upstream's drain deadline has passed, reading the
// drains again if the last read is over a second old.
func (d *Drains) Overdue(upstream string) bool {
	if time.Now().UnixNano()-d.read.Load() > int64(drainsReadEvery) {
		d.Any()
	}
	return d.mirror.Overdue(upstream)
}

// Deadline returns the deadline of upstream's drain, as Any last read it.
func (d *Drains) Deadline(upstream string) time.Time { return d.mirror.Deadline(upstream) }

// Set starts or ends the drain of upstream in Redis and in the mirror. When
// Redis fails, the change holds on this node only, and the error says so.
func (d *Drains) Set(upstream string, on bool, deadline time.Time) (bool, error) {
	changed, _ := d.mirror.Set(upstream, on, deadline)
	n, err := d.write(func(ctx context.Context) (int64, error) {
		conn, err := d.store.client.connect()
		if err != nil {
			return 0, err
		}
		cmds := rueidis.Commands{conn.B().Srem().Key(d.key).Member(upstream).Build(),
			conn.B().Hdel().Key(d.deadlinesKey).Field(upstream).Build()}
		if on {
			cmds = rueidis.Commands{conn.B().Sadd().Key(d.key).Member(upstream).Build()}
			if !deadline.IsZero() {
				cmds = append(cmds, conn.B().Hset().Key(d.deadlinesKey).FieldValue().
					FieldValue(upstream, strconv.FormatInt(deadline.UnixMilli(), 10)).Build())
			}
		}
		var n int64
		for _, resp := range conn.DoMulti(ctx, cmds...) {
			done, err := resp.AsInt64()
			if err != nil {
				return 0, err
			}
			n += done
		}
		return n, nil
	})
	if err != nil {
		return changed, fmt.Errorf("redis did not confirm the drain, so only this node obeys it: %w", err)
	}
	return n > 0 || changed, nil
}

// Retain forgets, in Redis and in the mirror, the drains of upstreams for
// which keep is false.
func (d *Drains) Retain(keep func(upstream string) bool) ([]string, error) {
	forgotten, _ := d.mirror.Retain(keep)
	_, err := d.write(func(ctx context.Context) (int64, error) {
		conn, err := d.store.client.connect()
		if err != nil {
			return 0, err
		}
		members, err := conn.Do(ctx, conn.B().Smembers().Key(d.key).Build()).AsStrSlice()
		if err != nil {
			return 0, err
		}
		var gone []string
		for _, u := range members {
			if !keep(u) {
				gone = append(gone, u)
				if !slices.Contains(forgotten, u) {
					forgotten = append(forgotten, u)
				}
			}
		}
		if len(gone) == 0 {
			return 0, nil
		}
		resps := conn.DoMulti(ctx, conn.B().Srem().Key(d.key).Member(gone...).Build(),
			conn.B().Hdel().Key(d.deadlinesKey).Field(gone...).Build())
		if err := resps[1].Error(); err != nil {
			return 0, err
		}
		return resps[0].AsInt64()
	})
	if err != nil {
		err = fmt.Errorf("redis: forgetting drains: %w", err)
	}
	slices.Sort(forgotten)
	return forgotten, err
}

// write runs an operator's change, once more if the first try fails: a
// connection that broke (Redis restarted) fails its next command, and adding
// or removing a set member twice is harmless.
func (d *Drains) write(do func(context.Context) (int64, error)) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), drainWriteTimeout)
	defer cancel()
	n, err := do(ctx)
	if err != nil {
		n, err = do(ctx)
	}
	return n, err
}
