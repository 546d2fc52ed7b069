package soapmatch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"expression_only", `soap_xpath //m0:symbol`, `{"expression":"//m0:symbol"}`},
		{"value_and_namespace", "soap_xpath //m0:getQuote/m0:request/m0:symbol IBM {\n namespace m0 http://services.samples\n}",
			`{"expression":"//m0:getQuote/m0:request/m0:symbol","value":"IBM","namespaces":{"m0":"http://services.samples"}}`},
		{"quoted_expression", `soap_xpath "//m0:qty > 100" {
			namespace m0 http://services.samples
			namespace soapenv http://www.w3.org/2003/05/soap-envelope
			peek_limit 1MiB
		}`, `{"expression":"//m0:qty \u003e 100","namespaces":{"m0":"http://services.samples","soapenv":"http://www.w3.org/2003/05/soap-envelope"},"peek_limit":1048576}`},
		{"empty_value", `soap_xpath //x ""`, `{"expression":"//x","value":""}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m MatchSOAPXPath
			if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in)); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(m)
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{`soap_xpath`, "wrong argument count"},
		{`soap_xpath //x a b`, "wrong argument count"},
		{"soap_xpath //x {\n namespace m0\n}", "prefix and a URI"},
		{"soap_xpath //x {\n namespace m0 urn:a\n namespace m0 urn:b\n}", `"m0" bound twice`},
		{"soap_xpath //x {\n peek_limit lots\n}", `peek_limit "lots"`},
		{"soap_xpath //x {\n peek_limit 0\n}", `peek_limit "0"`},
		{"soap_xpath //x {\n depth 3\n}", `unknown option "depth"`},
		{"soap_xpath //x\nsoap_xpath //y", "one expression per named matcher"},
	}
	for _, tc := range cases {
		var m MatchSOAPXPath
		err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want one with %q", tc.in, err, tc.want)
		}
	}
}
