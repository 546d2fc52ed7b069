package addressing_test

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// FuzzUnmarshalCaddyfile: any block parses or fails with an error, never
// panics, and what parses has a valid version.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{
		"", "ws_addressing", "ws_addressing {\n\tversion submission\n\tpreserve\n}",
		"ws_addressing {\n\ttransport http {\n\t\ttls\n\t}\n}", "ws_addressing {\n\tversion\n}",
		"ws_addressing {\n\ttransport ws_addressing\n}", "ws_addressing x {\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tokens, err := caddyfile.Tokenize([]byte(in), "Caddyfile")
		if err != nil {
			return
		}
		var tr addressing.Transport
		if tr.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)) != nil {
			return
		}
		if _, err := soap.NewAddressing(tr.Version, tr.Preserve); err != nil {
			t.Fatalf("%q parsed to an invalid version: %v", in, err)
		}
	})
}
