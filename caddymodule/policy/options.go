package policy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// The option checks that JSON and the Caddyfile share: the Caddyfile runs each
// as it parses the option (so that `caddy adapt` reports it with its line),
// and Provision runs them all on the values after defaults (so that a JSON
// config gets the same answer). In JSON, as everywhere in Caddy, an absent or
// zero value means the default; the Caddyfile, where an option is written
// only to be set, rejects zero.

// maxPeekLimit keeps a misconfigured peek from buffering whole bodies.
const maxPeekLimit = 1 << 30

var (
	errPositiveInt = errors.New("want a whole number of at least 1")
	errPeekLimit   = errors.New("want a size from 1B to 1GiB, such as 64KiB")
	errTimeout     = errors.New("want a positive duration, such as 2m")
)

// checkHashBalanceFactor checks a bounded-load factor; 0 (JSON's default)
// passes.
func checkHashBalanceFactor(f float64) error {
	if f == 0 || f > 1 && !math.IsInf(f, 1) {
		return nil
	}
	return sessionaffinity.ErrHashBalanceFactor
}

func checkTimeout(d time.Duration) error {
	if d <= 0 {
		return errTimeout
	}
	return nil
}

func checkPeekLimit(n int) error {
	if n < 1 || n > maxPeekLimit {
		return errPeekLimit
	}
	return nil
}

func checkPositive(n int) error {
	if n < 1 {
		return errPositiveInt
	}
	return nil
}

// checkOptions checks the policy's options after defaults; each error names
// the option and its value.
func (p *SimpleClientSession) checkOptions() error {
	var errs []error
	check := func(option string, value any, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid %s '%v': %w", option, value, err))
		}
	}
	check("timeout", time.Duration(p.Timeout), checkTimeout(time.Duration(p.Timeout)))
	check("max_sessions", p.MaxSessions, checkPositive(p.MaxSessions))
	check("max_id_length", p.MaxIDLength, checkPositive(p.MaxIDLength))
	check("peek_limit", p.PeekLimit, checkPeekLimit(p.PeekLimit))
	check("hash_balance_factor", p.HashBalanceFactor, checkHashBalanceFactor(p.HashBalanceFactor))
	return errors.Join(errs...)
}
