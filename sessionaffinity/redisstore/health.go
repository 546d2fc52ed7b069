package redisstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// health tells whether to ask Redis, and reports each outage once: when a
// command fails, Redis is left alone for the backoff; then one request probes
// it while the others keep to the local table. A command that fails while
// Redis answers others that were sent after it (a slow moment, a busy
// machine) is counted but starts no outage. Only a command started after the
// outage began can end it, and only one started after Redis came back can
// start a new one: commands in flight across a change of state (a burst of
// them, say) never make the state flap.
type health struct {
	backoff time.Duration
	onDown  func(error)
	onUp    func()

	retryAt    atomic.Int64 // monotonic ns of the next probe; 0 while Redis answers
	lastAnswer atomic.Int64 // monotonic ns of the latest answer

	mu    sync.Mutex
	down  bool
	since int64 // monotonic ns when down last changed
}

// epoch makes monotonic timestamps: time.Since reads the monotonic clock.
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// allow reports whether to ask Redis now. After a failure it says no until the
// backoff has passed; then it says yes to one caller, the probe.
func (h *health) allow() bool {
	at := h.retryAt.Load()
	if at == 0 {
		return true
	}
	now := monotonic()
	return now >= at && h.retryAt.CompareAndSwap(at, now+int64(h.backoff))
}

// answering reports whether Redis answered the latest command (no outage).
func (h *health) answering() bool { return h.retryAt.Load() == 0 }

// answered records that a command started at start got an answer.
func (h *health) answered(start int64) {
	h.lastAnswer.Store(monotonic())
	if h.retryAt.Load() == 0 {
		return
	}
	h.mu.Lock()
	ended := h.down && start >= h.since
	if ended {
		h.down, h.since = false, monotonic()
		h.retryAt.Store(0)
	}
	h.mu.Unlock()
	if ended && h.onUp != nil {
		h.onUp()
	}
}

// failed records that a command started at start failed with err.
func (h *health) failed(start int64, err error) {
	if h.lastAnswer.Load() > start {
		return // Redis answers: this command alone was slow
	}
	h.mu.Lock()
	began := !h.down && start >= h.since
	if began {
		h.down, h.since = true, monotonic()
	}
	if h.down {
		h.retryAt.Store(monotonic() + int64(h.backoff))
	}
	h.mu.Unlock()
	if began && h.onDown != nil {
		h.onDown(err)
	}
}
