package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// redisPolicy is a policy block with a Redis store; the address comes from an
// environment placeholder, as operators keep it.
func redisPolicy(t *testing.T, srv *redistest.Server, extra string) string {
	t.Setenv("SOAP_AFFINITY_TEST_REDIS", srv.Addr)
	return fmt.Sprintf(`{
			name orders
			store redis {
				address {env.SOAP_AFFINITY_TEST_REDIS}
				key_prefix test:
				%s
			}
		}`, extra)
}

// TestRedisStoreFollowsAnotherNodesBinding seeds Redis as another Caddy node
// would and checks that this one follows, and that its own bindings land in
// Redis with the session timeout.
func TestRedisStoreFollowsAnotherNodesBinding(t *testing.T) {
	srv := redistest.Start(t)
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, redisPolicy(t, srv, ""), ""))

	for _, b := range bs {
		id := "seeded-" + b.name
		if _, err := srv.Do("SET", "test:orders:"+id, b.addr); err != nil {
			t.Fatal(err)
		}
		if got := servedBy(t, withSession(id), 3); !allSame(got) || got[0] != b.name {
			t.Fatalf("session %s bound to %s in redis went to %v", id, b.name, got)
		}
	}
	home := servedBy(t, withSession("fresh"), 1)[0]
	stored := srv.Get("test:orders:fresh")
	if stored == "" || stored != backendNamed(t, bs, home).addr {
		t.Fatalf("fresh session served by %s, redis holds %q", home, stored)
	}
	if ttl := srv.PTTL("test:orders:fresh"); ttl < 2*time.Minute || ttl > 3*time.Minute {
		t.Fatalf("redis ttl %s, want about the default timeout 2m plus the slack 1m", ttl)
	}
}

// TestRedisStoreOutageKeepsServing stops Redis under a running Caddy: every
// request still succeeds on its session's upstream, the failure is counted in
// the metric, and Redis is used again once it is back.
func TestRedisStoreOutageKeepsServing(t *testing.T) {
	srv := redistest.Start(t)
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, redisPolicy(t, srv, "backoff 100ms\n\t\t\t\tcache_ttl 10ms"), ""))
	before := redisErrorCount(t)

	home := servedBy(t, withSession("s"), 1)[0]
	srv.Stop()
	for range 20 {
		if got := servedBy(t, withSession("s"), 1)[0]; got != home {
			t.Fatalf("during the outage session s went to %s, bound to %s", got, home)
		}
		time.Sleep(10 * time.Millisecond)
	}
	during := servedBy(t, withSession("during"), 1)[0]
	if n := redisErrorCount(t); n <= before {
		t.Fatalf("caddy_soap_affinity_redis_errors_total = %v, was %v before the outage", n, before)
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Get("test:orders:during") == "" {
		if time.Now().After(deadline) {
			t.Fatal("the session bound during the outage never reached redis once it was back")
		}
		if got := servedBy(t, withSession("during"), 1)[0]; got != during {
			t.Fatalf("after the outage session went to %s, bound to %s", got, during)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisErrorCount reads the error counter from the admin endpoint's metrics.
func redisErrorCount(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^caddy_soap_affinity_redis_errors_total\{policy="orders"\} (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRedisStoreConfigErrors checks that bad store options are refused with
// an error naming them, when adapting or when provisioning.
func TestRedisStoreConfigErrors(t *testing.T) {
	t.Setenv("SOAP_AFFINITY_TEST_UNSET", "")
	for _, tc := range []struct{ store, want string }{
		{`store memcached`, "unknown session store 'memcached'"},
		{"store redis {\n address\n}", "wrong argument count"},
		{"store redis {\n address a:1\n db -1\n}", "invalid db '-1'"},
		{"store redis {\n address a:1\n timeout 0s\n}", "invalid timeout '0s'"},
		{"store redis {\n address a:1\n colour blue\n}", "unrecognized redis store option 'colour'"},
		{"store redis {\n address a:1\n tls {\n pin x\n }\n}", "unrecognized redis tls option 'pin'"},
		{"store redis {\n address a:1\n}\nstore redis {\n address b:1\n}", "session store already specified"},
		{"store redis", "redis store: no address"},
		{"store redis {\n address {env.SOAP_AFFINITY_TEST_UNSET}\n}", "an address is empty"},
		{"store redis {\n address a:1\n tls {\n cert c.pem\n }\n}", "tls: cert and key go together"},
		{"store redis {\n address a:1\n tls {\n ca /nonexistent.pem\n }\n}", "tls ca"},
		{"timeout 1s\nstore redis {\n address a:1\n cache_ttl 1s\n}", "shorter than the session timeout"},
	} {
		cfg := fmt.Sprintf(":8290 {\n reverse_proxy localhost:9001 {\n  lb_policy simple_client_session {\n%s\n  }\n }\n}", tc.store)
		err := loadWithoutRunning(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\ngot error %v, want one containing %q", tc.store, err, tc.want)
		}
	}
}

// loadWithoutRunning adapts a Caddyfile and provisions it, as `caddy validate` does.
func loadWithoutRunning(caddyfile string) error {
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}
