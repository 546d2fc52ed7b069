package caddymodule

import (
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// TestRedisMaxLifetime is issue 23 item 3 on a real config: store redis with
// max_lifetime loads; a session used every half second stays on its backend
// until the lifetime of its first binding, not its idle timeout's slide; its
// next request after the lifetime is placed anew, counted as an expiry like
// a session of the in-memory table.
func TestRedisMaxLifetime(t *testing.T) {
	srv := redistest.Start(t)
	bs := startBackends(t, 3)
	t.Setenv("SOAP_AFFINITY_TEST_REDIS", srv.Addr)
	initCaddy(t, proxyConfig(bs, `{
			name lifetime_redis
			timeout 2s
			max_lifetime 3s
			store redis {
				address {env.SOAP_AFFINITY_TEST_REDIS}
				key_prefix test:
			}
		}`, ""))
	const (
		expired = metricsPrefix + `expirations_total{policy="lifetime_redis"}`
		key     = "test:lifetime_redis:life"
	)
	before := scrape(t)
	born := time.Now()
	home := servedBy(t, withSession("life"), 1)[0]
	bound := time.Now()
	for time.Since(born) < 2500*time.Millisecond {
		time.Sleep(500 * time.Millisecond)
		if got := servedBy(t, withSession("life"), 1)[0]; got != home {
			t.Fatalf("%s after its first request, session life went to %s, bound to %s", time.Since(born), got, home)
		}
		if ends := time.Now().Add(srv.PTTL(key)); ends.After(bound.Add(3*time.Second + 20*time.Millisecond)) {
			t.Fatalf("the session's key in redis lives to %s after the first request, past its lifetime 3s", ends.Sub(born))
		}
	}
	time.Sleep(time.Until(bound.Add(3*time.Second + 20*time.Millisecond)))
	if got := srv.Get(key); got != "" {
		t.Fatalf("past its lifetime, redis still binds the session to %s", got)
	}
	servedBy(t, withSession("life"), 1)
	if got := scrape(t)[expired] - before[expired]; got != 1 {
		t.Fatalf("%s grew by %v, want 1 (the lifetime's end)", expired, got)
	}
	if ttl := srv.PTTL(key); ttl < 2*time.Second || ttl > 3*time.Second {
		t.Fatalf("the new binding's key has %s to live; want a new session's (the timeout 2s plus its slack, within its lifetime 3s)", ttl)
	}
}
