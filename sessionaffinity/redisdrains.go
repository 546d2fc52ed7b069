package sessionaffinity

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// drainWriteTimeout bounds an operator's change of a drain in Redis.
const drainWriteTimeout = 2 * time.Second

// RedisDrains keeps a policy's drains in a Redis set beside its sessions, so
// that every node of the policy obeys a drain started on any of them. Each
// placement reads the set (one round trip, bounded by the store's command
// timeout), so a node obeys a drain from its next placement on. The mirror
// is this node's copy: it answers while Redis does not.
type RedisDrains struct {
	store  *RedisStore
	key    string
	mirror *DrainSet
}

var _ DrainStore = (*RedisDrains)(nil)

// Drains returns the drains kept in Redis at key, mirrored in mirror.
func (s *RedisStore) Drains(key string, mirror *DrainSet) *RedisDrains {
	return &RedisDrains{store: s, key: key, mirror: mirror}
}

// Any refreshes the mirror from Redis and reports whether some upstream is
// draining.
func (d *RedisDrains) Any() bool {
	if !d.store.useRedis() {
		return d.mirror.Any()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.store.cmdTimeout)
	defer cancel()
	members, err := d.store.client.SMembers(ctx, d.key).Result()
	if err != nil {
		d.store.failed(err)
		return d.mirror.Any()
	}
	d.store.answered()
	d.mirror.Replace(members)
	return len(members) > 0
}

// Draining reports whether upstream is draining, as Any last read it.
func (d *RedisDrains) Draining(upstream string) bool { return d.mirror.Draining(upstream) }

// Set starts or ends the drain of upstream in Redis and in the mirror. When
// Redis fails, the change holds on this node only, and the error says so.
func (d *RedisDrains) Set(upstream string, on bool) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), drainWriteTimeout)
	defer cancel()
	var n int64
	var err error
	if on {
		n, err = d.store.client.SAdd(ctx, d.key, upstream).Result()
	} else {
		n, err = d.store.client.SRem(ctx, d.key, upstream).Result()
	}
	changed, _ := d.mirror.Set(upstream, on)
	if err != nil {
		return changed, fmt.Errorf("redis did not confirm the drain, so only this node obeys it: %w", err)
	}
	return n > 0 || changed, nil
}

// Retain forgets, in Redis and in the mirror, the drains of upstreams for
// which keep is false.
func (d *RedisDrains) Retain(keep func(upstream string) bool) ([]string, error) {
	forgotten, _ := d.mirror.Retain(keep)
	ctx, cancel := context.WithTimeout(context.Background(), drainWriteTimeout)
	defer cancel()
	members, err := d.store.client.SMembers(ctx, d.key).Result()
	if err != nil {
		return forgotten, fmt.Errorf("redis: reading drains: %w", err)
	}
	var gone []any
	for _, u := range members {
		if !keep(u) {
			gone = append(gone, u)
		}
	}
	if len(gone) == 0 {
		return forgotten, nil
	}
	if err := d.store.client.SRem(ctx, d.key, gone...).Err(); err != nil {
		return forgotten, fmt.Errorf("redis: forgetting drains: %w", err)
	}
	for _, u := range gone {
		if !slices.Contains(forgotten, u.(string)) {
			forgotten = append(forgotten, u.(string))
		}
	}
	return forgotten, nil
}
