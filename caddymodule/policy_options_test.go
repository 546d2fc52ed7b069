package caddymodule

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestOptionsValidatedAlikeInJSONAndCaddyfile loads bad option values into a
// real Caddy through the Caddyfile and through JSON: both reject them, with
// an error naming the option and the value.
func TestOptionsValidatedAlikeInJSONAndCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		caddyfile string // the option line
		json      string // the same as a JSON field, "" where JSON cannot say it
		want      string
	}{
		{"peek_limit 2GiB", `"peek_limit": 2147483648`, "invalid peek_limit '2147483648': want a size from 1B to 1GiB"},
		{"timeout 0", "", "invalid timeout '0"},
		{"timeout -1s", `"timeout": "-1s"`, "invalid timeout '-1s': want a positive duration"},
		{"max_sessions -3", `"max_sessions": -3`, "invalid max_sessions '-3': want a whole number of at least 1"},
		{"max_id_length -1", `"max_id_length": -1`, "invalid max_id_length '-1'"},
		{"hash_balance_factor 0.5", `"placement": "hash", "hash_balance_factor": 0.5`, "invalid hash_balance_factor '0.5': want a number above 1"},
	} {
		t.Run(tc.caddyfile, func(t *testing.T) {
			want := tc.want
			if tc.caddyfile == "peek_limit 2GiB" {
				want = "invalid peek_limit '2GiB': want a size from 1B to 1GiB" // the Caddyfile names the value as written
			}
			assertLoadError(t, testConfig(fmt.Sprintf("\treverse_proxy localhost:1 {\n\t\tlb_policy simple_client_session {\n\t\t\t%s\n\t\t}\n\t}", tc.caddyfile)),
				"caddyfile", want)
			if tc.json == "" {
				return
			}
			cfg := fmt.Sprintf(`{"apps":{"http":{"servers":{"srv0":{"listen":[":%d"],"routes":[{"handle":[{"handler":"reverse_proxy",
				"upstreams":[{"dial":"localhost:1"}],
				"load_balancing":{"selection_policy":{"policy":"simple_client_session",%s}}}]}]}}}},
				"admin":{"listen":"localhost:%d"}}`, httpPort, tc.json, adminPort)
			if !json.Valid([]byte(cfg)) {
				t.Fatalf("invalid JSON: %s", cfg)
			}
			assertLoadError(t, cfg, "json", jsonEscaped(tc.want))
		})
	}
}

func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
