package sessionaffinity

import (
	"time"

	"github.com/maypok86/otter/v2"
)

// lifetime computes when a session ends: idle after its last use (sliding
// expiry), or at its first binding plus the most it may live (max_lifetime,
// or the timeout with expiry fixed), whichever comes first. A rebind keeps
// the first binding's time, so moving a session does not lengthen its life.
type lifetime struct {
	idle int64 // nanoseconds; 0: no idle timeout
	max  int64 // nanoseconds; 0: no limit
	now  func() int64
}

func newLifetime(cfg TableConfig, now func() int64) lifetime {
	l := lifetime{idle: int64(cfg.Timeout), max: int64(cfg.MaxLifetime), now: now}
	if cfg.Expiry == ExpiryFixed {
		l.idle = 0
		if l.max == 0 || int64(cfg.Timeout) < l.max {
			l.max = int64(cfg.Timeout)
		}
	}
	return l
}

// left is how long the session s has from now on.
func (l lifetime) left(s *session) time.Duration {
	now := l.now()
	end := int64(-1)
	if l.idle > 0 {
		end = now + l.idle
	}
	if l.max > 0 && (end < 0 || s.created+l.max < end) {
		end = s.created + l.max
	}
	// At least 1ns: otter keeps an entry forever when it is given no time
	// (a copy adopted from another node may be past its end already).
	return time.Duration(max(end-now, 1))
}

func (l lifetime) ExpireAfterCreate(e otter.Entry[string, *session]) time.Duration {
	return l.left(e.Value)
}

func (l lifetime) ExpireAfterUpdate(e otter.Entry[string, *session], _ *session) time.Duration {
	return l.left(e.Value)
}

func (l lifetime) ExpireAfterRead(e otter.Entry[string, *session]) time.Duration {
	if l.idle == 0 {
		return e.ExpiresAfter() // nothing a read changes
	}
	return l.left(e.Value)
}
