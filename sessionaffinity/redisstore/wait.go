package redisstore

import (
	"context"
	"sync"
	"time"
)

// patience is how many command timeouts a command may wait in all while Redis
// keeps answering other commands.
const patience = 10

// commandContext bounds one command: it ends once Redis has been silent for
// the command timeout (no answer to any command of the store in that time),
// or at the latest after `patience` timeouts. A command that is only queued
// behind a burst of others (Redis answering, or this process too busy to read
// the answers: its timer fires late) keeps waiting, so that a healthy Redis
// never looks down because this node is busy.
func (s *Store) commandContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), patience*s.cmdTimeout)
	w := &silenceWatch{s: s, cancel: cancel}
	w.mu.Lock()
	w.due = monotonic() + int64(s.cmdTimeout)
	w.timer = time.AfterFunc(s.cmdTimeout, w.check)
	w.mu.Unlock()
	return ctx, func() {
		w.mu.Lock()
		w.timer.Stop()
		w.mu.Unlock()
		cancel()
	}
}

type silenceWatch struct {
	s      *Store
	cancel context.CancelFunc
	mu     sync.Mutex
	timer  *time.Timer
	due    int64 // monotonic ns the timer is set for
}

func (w *silenceWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now, timeout := monotonic(), int64(w.s.cmdTimeout)
	answering := now-w.s.health.lastAnswer.Load() < timeout
	busy := now-w.due > timeout // this timer fired late: the process is starved
	if !answering && !busy {
		w.cancel()
		return
	}
	w.due = now + timeout
	w.timer.Reset(w.s.cmdTimeout)
}
