package synapse

import (
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// timeout maps an endpoint's <timeout>: its duration bounds the wait for the
// response headers.
func (c *compiler) timeout(t *etree.Element, h *health) error {
	for _, ch := range t.ChildElements() {
		switch ch.Tag {
		case "duration":
			d, err := c.millis(ch, ch.Text())
			if err != nil {
				return err
			}
			h.timeout = max(d, 0)
		case "responseAction":
			if a := strings.TrimSpace(ch.Text()); a != "fault" {
				c.warnf(ch, "responseAction %q: Caddy fails a timed-out request with 504, which the faultSequence answers", a)
			}
		default:
			return c.errorf(ch, "not supported in a timeout (supported: duration, responseAction)")
		}
	}
	return nil
}

// suspendOnFailure maps the suspension of a failed endpoint to Caddy's
// passive health checks: an upstream that fails is left out for
// fail_duration. Caddy's duration does not grow with repeated failures.
func (c *compiler) suspendOnFailure(s *etree.Element, h *health) error {
	for _, ch := range s.ChildElements() {
		switch ch.Tag {
		case "initialDuration":
			d, err := c.millis(ch, ch.Text())
			if err != nil {
				return err
			}
			if d >= 0 {
				h.failDuration = d
			}
		case "progressionFactor":
			if f, err := strconv.ParseFloat(strings.TrimSpace(ch.Text()), 64); err != nil || f != 1 {
				c.warnf(ch, "progressionFactor %q: Caddy leaves a failed upstream out for initialDuration every time", strings.TrimSpace(ch.Text()))
			}
		case "maximumDuration":
			c.warnf(ch, "not mapped: Caddy leaves a failed upstream out for initialDuration every time")
		case "errorCodes":
			c.warnf(ch, "not mapped: Caddy counts every failed attempt (connection refused, reset, timeout)")
		default:
			return c.errorf(ch, "not supported in suspendOnFailure (supported: initialDuration, progressionFactor, maximumDuration, errorCodes)")
		}
	}
	return nil
}

// suspendDurationOnFailure maps Synapse 1.2's suspension, which Synapse 2
// and MI still read: the initial suspension in seconds, with a progression
// factor of 1, as suspendOnFailure's initialDuration is mapped.
func (c *compiler) suspendDurationOnFailure(s *etree.Element, h *health) error {
	text := strings.TrimSpace(s.Text())
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > int64(365*24*time.Hour/time.Second) {
		return c.errorf(s, "%q is not a duration in seconds", text)
	}
	h.failDuration = time.Duration(n) * time.Second
	return nil
}

// markForSuspension maps the failures an endpoint may have before it is
// suspended to Caddy's max_fails.
func (c *compiler) markForSuspension(m *etree.Element, h *health) error {
	for _, ch := range m.ChildElements() {
		switch ch.Tag {
		case "retriesBeforeSuspension":
			n, err := strconv.Atoi(strings.TrimSpace(ch.Text()))
			if err != nil || n < 0 || n > 1000 {
				return c.errorf(ch, "%q is not a whole number from 0 to 1000", strings.TrimSpace(ch.Text()))
			}
			h.maxFails = n + 1
		case "retryDelay":
			c.warnf(ch, "not mapped: Caddy retries another upstream at once")
		case "errorCodes":
			c.warnf(ch, "not mapped: Caddy counts every failed attempt (connection refused, reset, timeout)")
		default:
			return c.errorf(ch, "not supported in markForSuspension (supported: retriesBeforeSuspension, retryDelay, errorCodes)")
		}
	}
	return nil
}
