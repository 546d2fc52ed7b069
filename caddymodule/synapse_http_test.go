package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/synapse"
)

// TestSynapseHTTPEndpoint runs what the synapse adapter makes of http
// endpoints: with a method, the backend gets exactly the endpoint's URL
// (the request's query dropped) and that method, {uri.var.NAME} filled with
// the resource's path segment; without one, the request's method and its
// sub-path appended, as for an address endpoint.
func TestSynapseHTTPEndpoint(t *testing.T) {
	echo := newBackendWith(t, "echo", func(_ *backend, w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI())
	})
	api := fmt.Sprintf(`<api xmlns="http://ws.apache.org/ns/synapse" name="Quotes" context="/quotes">
  <resource methods="GET" uri-template="/{symbol}/detail">
    <inSequence><call><endpoint><http method="post" uri-template="http://%[1]s/quote/{uri.var.symbol}?full={uri.var.symbol}"/></endpoint></call><respond/></inSequence>
  </resource>
  <resource methods="POST" uri-template="/refresh">
    <inSequence><call><endpoint><http method="GET" uri-template="http://%[1]s/latest"/></endpoint></call><respond/></inSequence>
  </resource>
  <resource methods="PUT" url-mapping="/history/*">
    <inSequence><call><endpoint><http uri-template="http://%[1]s/archive"/></endpoint></call><respond/></inSequence>
  </resource>
</api>`, echo.addr)
	out, _, err := synapse.Adapt([]synapse.File{{Name: "quotes.xml", Data: []byte(api)}}, synapse.Options{HTTPPort: httpPort, HTTPSPort: httpPort + 1})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = map[string]any{"listen": fmt.Sprintf("localhost:%d", adminPort)}
	cfg["apps"].(map[string]any)["http"].(map[string]any)["grace_period"] = 1
	withAdmin, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	initCaddyWith(t, string(withAdmin), "json")

	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/quotes/IBM%20X/detail?from=client", "POST /quote/IBM%20X?full=IBM+X"},
		{"POST", "/quotes/refresh?from=client", "GET /latest"},
		{"PUT", "/quotes/history/2024?from=client", "PUT /archive/history/2024?from=client"},
	} {
		rep := send(t, request{method: tc.method, path: tc.path, body: []byte("x")})
		if rep.status != http.StatusOK || rep.body != tc.want {
			t.Errorf("%s %s: %d %q, want 200 %q", tc.method, tc.path, rep.status, rep.body, tc.want)
		}
	}
	if !strings.Contains(string(out), `"uri":"/quote/{http.regexp.symbol}?full={http.regexp.symbol}"`) {
		t.Errorf("adapted JSON: %s", out)
	}
}
