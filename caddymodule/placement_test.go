package caddymodule

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/redistest"
)

// Two nodes with no store in common (two configs, loaded one after the
// other, with policies of different names, so different tables) place the
// same sessions on the same backends with placement hash, even with the
// upstreams listed in another order and another fallback policy.
func TestHashPlacementAgreesAcrossNodes(t *testing.T) {
	bs := startBackends(t, 3)
	reversed := slices.Clone(bs)
	slices.Reverse(reversed)
	nodes := []struct {
		backends []*backend
		fallback string
	}{
		{bs, "round_robin"},
		{reversed, "random"},
	}
	placed := make([]map[string]string, len(nodes))
	for n, node := range nodes {
		initCaddy(t, proxyConfig(node.backends, fmt.Sprintf("{\n name %s\n placement hash\n fallback %s\n }",
			uniqueName(fmt.Sprint("hash_node", n)), node.fallback), ""))
		placed[n] = map[string]string{}
		for i := range 200 {
			id := fmt.Sprint("client-", i)
			placed[n][id] = servedBy(t, withSession(id), 1)[0]
		}
	}
	perBackend := map[string]int{}
	for id, backend := range placed[0] {
		perBackend[backend]++
		if other := placed[1][id]; other != backend {
			t.Errorf("%s: node 1 placed it on %s, node 2 on %s", id, backend, other)
		}
	}
	// ceil(1.25 * 200 / 3) = 84 at most on each.
	for _, b := range bs {
		if n := perBackend[b.name]; n == 0 || n > 84 {
			t.Errorf("%s got %d of 200 sessions, want 1 to 84", b.name, n)
		}
	}
	t.Logf("200 sessions on each node: %v", perBackend)
}

// hash_balance_factor is refused, naming its value, when it is no factor
// above 1 or comes without placement hash.
func TestHashBalanceFactorConfig(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, proxyConfig(bs, "{\n placement hash\n hash_balance_factor 1.5\n }", ""))
	for _, tc := range []struct{ options, want string }{
		{"placement hash\n hash_balance_factor 1", "invalid hash_balance_factor '1': want a number above 1, such as 1.25"},
		{"placement hash\n hash_balance_factor many", "invalid hash_balance_factor 'many': want a number above 1"},
		{"hash_balance_factor 1.5", "hash_balance_factor 1.5 is for placement hash only, not placement fallback"},
		{"placement least_sessions\n hash_balance_factor 2", "hash_balance_factor 2 is for placement hash only, not placement least_sessions"},
		{"placement consistent", `unknown placement \"consistent\" (want \"fallback\", \"least_sessions\" or \"hash\")`},
	} {
		assertLoadError(t, proxyConfig(bs, "{\n "+tc.options+"\n }", ""), "caddyfile", tc.want)
	}
}

// A fourth backend added by a reload takes none of the sessions bound to the
// three, and the new sessions fill it first: with hash_balance_factor 1.1,
// while each of the three holds at least the cap of four backends (about
// 0.275 of the sessions, against their third), every new session goes to
// the fourth.
func TestHashPlacementReloadAddsABackend(t *testing.T) {
	const sessions = 1200
	bs := startBackends(t, 4)
	policy := fmt.Sprintf("{\n name %s\n placement hash\n hash_balance_factor 1.1\n }", uniqueName("hash_grow"))
	initCaddy(t, proxyConfig(bs[:3], policy, ""))
	home := map[string]string{}
	perBackend := map[string]int{}
	for i := range sessions {
		id := fmt.Sprint("client-", i)
		home[id] = servedBy(t, withSession(id), 1)[0]
		perBackend[home[id]]++
	}
	initCaddy(t, proxyConfig(bs, policy, ""))
	for id, backend := range home {
		if got := servedBy(t, withSession(id), 1)[0]; got != backend {
			t.Fatalf("%s moved from %s to %s when a backend was added", id, backend, got)
		}
	}
	fewest := min(perBackend[bs[0].name], perBackend[bs[1].name], perBackend[bs[2].name])
	filled := 0
	for total := sessions; int(math.Ceil(1.1*float64(total+1)/4)) <= fewest; total++ {
		if got := servedBy(t, withSession(fmt.Sprint("new-", total)), 1)[0]; got != bs[3].name {
			t.Fatalf("new session %d went to %s while the other backends were at the cap (%v)", filled, got, perBackend)
		}
		filled++
	}
	if filled == 0 {
		t.Fatalf("the three backends hold %v: none at the cap of four, so the test shows nothing", perBackend)
	}
	t.Logf("%d sessions on three backends %v; after the reload, none moved and the next %d new sessions all went to the fourth", sessions, perBackend, filled)
}

// With store redis and no fallback policy set, new sessions are placed by
// placement hash: where an in-memory policy with placement hash puts them.
// A fallback policy set on purpose keeps placing them (round robin here).
func TestRedisStoreDefaultsToHashPlacement(t *testing.T) {
	srv := redistest.Start(t)
	bs := startBackends(t, 3)
	t.Setenv("SOAP_AFFINITY_TEST_REDIS", srv.Addr)
	placed := func(policy string) []string {
		initCaddy(t, proxyConfig(bs, policy, ""))
		out := make([]string, 30)
		for i := range out {
			out[i] = servedBy(t, withSession(fmt.Sprint("client-", i)), 1)[0]
		}
		return out
	}
	const store = "store redis {\n address {env.SOAP_AFFINITY_TEST_REDIS}\n key_prefix %s:\n }"
	hash := placed(fmt.Sprintf("{\n name %s\n placement hash\n }", uniqueName("hash_memory")))
	byDefault := placed(fmt.Sprintf("{\n name %s\n "+store+"\n }", uniqueName("redis_default"), uniqueName("default")))
	if !slices.Equal(byDefault, hash) {
		t.Errorf("store redis placed new sessions on %v, placement hash on %v", byDefault, hash)
	}
	withFallback := placed(fmt.Sprintf("{\n name %s\n fallback round_robin\n "+store+"\n }", uniqueName("redis_fallback"), uniqueName("fallback")))
	for i := range withFallback {
		if withFallback[i] != withFallback[i%3] || i < 3 && slices.Contains(withFallback[:i], withFallback[i]) {
			t.Fatalf("store redis with fallback round_robin placed new sessions on %v, want them in turn", withFallback)
		}
	}
}
