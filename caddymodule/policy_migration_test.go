package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/policy"
)

// TestPolicyAddressingOptionPointsToTheTransport: the policy's old
// addressing option, which the ws_addressing transport replaced, is refused
// with what to write instead, in any of its old forms.
func TestPolicyAddressingOptionPointsToTheTransport(t *testing.T) {
	for _, block := range []string{"addressing", "addressing submission", "addressing {\n\t\tpreserve\n\t}"} {
		d := caddyfile.NewTestDispenser("simple_client_session {\n\t" + block + "\n}")
		var p policy.SimpleClientSession
		err := p.UnmarshalCaddyfile(d)
		if err == nil || !strings.Contains(err.Error(), "transport ws_addressing") {
			t.Errorf("%q: error %v, want one that names transport ws_addressing", block, err)
		}
	}
}
