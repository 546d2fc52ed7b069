package redisstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// drainWriteTimeout bounds an operator's change of a drain, and a
// publication of session counts.
const drainWriteTimeout = 2 * time.Second

// Drains keeps a policy's drains (sessionaffinity.Drains) in a Redis set
// beside its sessions, so that every node of the policy obeys a drain started
// on any of them. Each placement reads the set from this node's cache of Redis (CLIENT TRACKING:
// no round trip, and Redis drops the cached set the moment any node changes
// it), so a node obeys a drain from its next placement on. The mirror is this
// node's copy: it answers while Redis does not.
type Drains struct {
	store  *Store
	key    string
	mirror *sessionaffinity.MemoryDrains
}

var _ sessionaffinity.Drains = (*Drains)(nil)

// Drains returns the drains kept in Redis at key, mirrored in mirror.
func (s *Store) Drains(key string, mirror *sessionaffinity.MemoryDrains) *Drains {
	return &Drains{store: s, key: key, mirror: mirror}
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
	members, err := conn.DoCache(ctx, conn.B().Smembers().Key(d.key).Cache(), time.Minute).AsStrSlice()
	if err != nil {
		d.store.failed(start, err)
		return d.mirror.Any()
	}
	d.store.health.answered(start)
	d.mirror.Replace(members)
	return len(members) > 0
}

// Draining reports whether upstream is draining, as Any last read it.
func (d *Drains) Draining(upstream string) bool { return d.mirror.Draining(upstream) }

// Set starts or ends the drain of upstream in Redis and in the mirror. When
// Redis fails, the change holds on this node only, and the error says so.
func (d *Drains) Set(upstream string, on bool) (bool, error) {
	changed, _ := d.mirror.Set(upstream, on)
	n, err := d.write(func(ctx context.Context) (int64, error) {
		conn, err := d.store.client.connect()
		if err != nil {
			return 0, err
		}
		if on {
			return conn.Do(ctx, conn.B().Sadd().Key(d.key).Member(upstream).Build()).AsInt64()
		}
		return conn.Do(ctx, conn.B().Srem().Key(d.key).Member(upstream).Build()).AsInt64()
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
		return conn.Do(ctx, conn.B().Srem().Key(d.key).Member(gone...).Build()).AsInt64()
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
