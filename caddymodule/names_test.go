package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/admin"
)

// TestDefaultNamesSurviveForcedReloads runs three sites, each with an unnamed
// policy of the same settings over its own backends, and forces 20 reloads of
// the unchanged config. Caddy provisions its servers in map order, so names
// handed out in provisioning order would swap tables between sites: sessions
// would be placed anew and the tables' counts would change.
func TestDefaultNamesSurviveForcedReloads(t *testing.T) {
	const sites, perSite, reloads = 3, 10, 20
	bs := startBackends(t, 3*sites)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "{\n\tadmin localhost:%d\n\thttp_port %d\n\thttps_port %d\n\tgrace_period 1ns\n\tskip_install_trust\n}\n",
		adminPort, httpPort, httpPort+1)
	ports := make([]int, sites)
	for s := range sites {
		ports[s] = httpPort + 10 + s
		fmt.Fprintf(&cfg, ":%d {\n\treverse_proxy %s {\n\t\tlb_policy simple_client_session\n\t}\n}\n",
			ports[s], addrs(bs[3*s:3*s+3]))
	}
	initCaddy(t, cfg.String())

	at := func(site int, id string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/", ports[site]), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("simpleClientSession", id)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatalf("site %d, session %s: %v", site, id, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("site %d, session %s: status %d", site, id, resp.StatusCode)
		}
		return resp.Header.Get("X-Backend")
	}
	id := func(site, i int) string { return fmt.Sprintf("site%d-session%d", site, i) }
	home := map[string]string{}
	for s := range sites {
		for i := range perSite {
			home[id(s, i)] = at(s, id(s, i))
		}
	}
	counts := func() []string {
		var list struct{ Policies []admin.PolicyInfo }
		adminOK(t, http.MethodGet, "/soap-affinity/policies", &list)
		var out []string
		for _, p := range list.Policies {
			out = append(out, fmt.Sprintf("%s=%d", p.Name, p.Sessions))
		}
		slices.Sort(out)
		return out
	}
	want := []string{"simple_client_session_srv0_1=10", "simple_client_session_srv1_1=10", "simple_client_session_srv2_1=10"}
	if got := counts(); !slices.Equal(got, want) {
		t.Fatalf("before any reload: policies %v, want %v", got, want)
	}

	kept := 0
	for r := 1; r <= reloads; r++ {
		forceReload(t, cfg.String())
		for s := range sites {
			for i := range perSite {
				if got := at(s, id(s, i)); got == home[id(s, i)] {
					kept++
				} else {
					t.Errorf("reload %d: session %s went to %s, bound to %s", r, id(s, i), got, home[id(s, i)])
				}
			}
		}
		if got := counts(); !slices.Equal(got, want) {
			t.Fatalf("after reload %d: policies %v, want %v", r, got, want)
		}
	}
	t.Logf("%d forced reloads: %d of %d session requests kept their upstream", reloads, kept, reloads*sites*perSite)
}

// forceReload loads cfg (a Caddyfile) as `caddy reload --force` does: Caddy
// provisions it anew even though it is unchanged.
func forceReload(t *testing.T, cfg string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, adminURL+"/load", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("reloading: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reloading: status %d", resp.StatusCode)
	}
}
