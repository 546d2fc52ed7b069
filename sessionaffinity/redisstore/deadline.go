package redisstore

import (
	"context"
	"sync"
	"time"
)

// deadline is a context that ends at a time, and starts its timer only when
// someone waits on it. A lookup served from the client-side cache never
// waits, so it pays for no timer (context.WithTimeout cost a fifth of a
// cached lookup).
type deadline struct {
	at    time.Time
	mu    sync.Mutex
	done  chan struct{}
	timer *time.Timer
}

func newDeadline(d time.Duration) *deadline { return &deadline{at: time.Now().Add(d)} }

func (c *deadline) Deadline() (time.Time, bool) { return c.at, true }

func (c *deadline) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		done := c.done
		c.timer = time.AfterFunc(time.Until(c.at), func() { close(done) })
	}
	return c.done
}

func (c *deadline) Err() error {
	if time.Now().Before(c.at) {
		return nil
	}
	return context.DeadlineExceeded
}

func (c *deadline) Value(any) any { return nil }

// stop releases the timer, if one was started.
func (c *deadline) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}
