package redisstore

import "github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"

// CountsShared reports whether Redis answers, so that the counts are the
// cluster's (as last published) rather than this node's alone.
func (c *Counts) CountsShared() bool { return c.store.health.answering() }

var _ sessionaffinity.SharedCounter = (*Counts)(nil)
