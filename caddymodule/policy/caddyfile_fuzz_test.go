package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile feeds arbitrary option text into the policy's block:
// parsing never panics, a rejected block gets an error that says where it went
// wrong (the Caddyfile position) and names a value of the option text, and an
// accepted one marshals to JSON.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	valid := []string{
		"",
		"name shared\nheader X-Session simpleClientSession\nsoap_header {http://ws.apache.org/ns/synapse}ClientID",
		"soap_header off\ntimeout 2m\nexpiry fixed\nmax_sessions 1000\nmax_id_length 64\npeek_limit 64KiB",
		"strict\nlog_session_ids",
		"fallback first",
		"fallback random_choose 2",
		"fallback header X-Upstream {\n fallback first\n}",
		"session http\ncookie JSESSIONID sid\nheader X-Session-Id",
		"session soap",
	}
	invalid := []string{
		"fallback round_robin\nfallback first",
		"timeout -1\nmax_sessions 0\npeek_limit 2GiB",
		"max_sessions 99999999999999999999",
		"header",
		"strict yes",
		"unknown_option 1",
		"fallback no_such_policy",
		"name {\n}",
		"}{",
		"session cookie",
		"session",
		"cookie",
	}
	// The harness itself must accept good blocks and reject bad ones, or the
	// fuzzing would only ever see errors.
	for _, in := range valid {
		if _, err := parsePolicyBlock(in); err != nil {
			f.Fatalf("valid block %q rejected: %v", in, err)
		}
		f.Add(in)
	}
	for _, in := range invalid {
		if _, err := parsePolicyBlock(in); err == nil {
			f.Fatalf("invalid block %q accepted", in)
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(policyBlock(input)), "Testfile")
		if err != nil {
			// Not for the policy: the lexer rejects the text (and
			// NewTestDispenser would exit the process on it).
			return
		}
		p, err := parsePolicyBlock(input)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "Testfile:") {
				t.Fatalf("error %q does not say where in the Caddyfile", msg)
			}
			if !namesAToken(msg, tokens) {
				t.Fatalf("error %q names no value of the option text %q", msg, input)
			}
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("accepted block does not marshal: %v", err)
		}
	})
}

// policyBlock is the policy's segment as reverse_proxy hands it over
// (caddyfile.UnmarshalModule): from the policy name to the end of its block.
func policyBlock(options string) string {
	return "simple_client_session {\n" + options + "\n}"
}

func parsePolicyBlock(options string) (*SimpleClientSession, error) {
	tokens, err := caddyfile.Tokenize([]byte(policyBlock(options)), "Testfile")
	if err != nil {
		return nil, err
	}
	p := new(SimpleClientSession)
	return p, p.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
}

// namesAToken reports whether msg mentions one of the tokens of the option
// text (not the policy name nor the brace opening the block); an empty token
// ("") is named as a pair of single quotes.
func namesAToken(msg string, tokens []caddyfile.Token) bool {
	for _, tok := range tokens[2:] {
		if tok.Text == "" && strings.Contains(msg, "''") || tok.Text != "" && strings.Contains(msg, tok.Text) {
			return true
		}
	}
	return false
}
