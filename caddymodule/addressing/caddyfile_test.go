package addressing_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	// The Caddyfile adapter and the modules of a standard Caddy build, which
	// the adapted configs name (reverse_proxy, its http and fastcgi transports).
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
)

// adaptTransport adapts a site with reverse_proxy upstreams {block} and
// returns the JSON of its transport.
func adaptTransport(t *testing.T, upstreams, block string) (string, error) {
	t.Helper()
	cfg := ":8080 {\n\treverse_proxy " + upstreams + " {\n" + block + "\n\t}\n}\n"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		return "", err
	}
	var doc struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Transport json.RawMessage `json:"transport"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	return string(doc.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0].Transport), nil
}

func TestCaddyfileAdapt(t *testing.T) {
	cases := []struct{ name, upstreams, block, want string }{
		{"bare", "a:1 b:2", "\t\ttransport ws_addressing",
			`{"protocol":"ws_addressing"}`},
		{"empty block", "a:1", "\t\ttransport ws_addressing {\n\t\t}",
			`{"protocol":"ws_addressing"}`},
		{"every option", "a:1 b:2", `		transport ws_addressing {
			version submission
			preserve
			transport http {
				tls
			}
		}`, `{"preserve":true,"protocol":"ws_addressing","transport":{"protocol":"http","tls":{}},"version":"submission"}`},
		{"final", "a:1", "\t\ttransport ws_addressing {\n\t\t\tversion final\n\t\t}",
			`{"protocol":"ws_addressing","version":"final"}`},
		{"wrapped http options", "a:1", `		transport ws_addressing {
			transport http {
				dial_timeout 3s
				tls_insecure_skip_verify
			}
		}`, `{"protocol":"ws_addressing","transport":{"dial_timeout":3000000000,"protocol":"http","tls":{"insecure_skip_verify":true}}}`},
		// reverse_proxy enables TLS on the transport for https:// upstreams;
		// the wrapper passes it to the wrapped one, the default too.
		{"https upstream, default wrapped", "https://a:443", "\t\ttransport ws_addressing",
			`{"protocol":"ws_addressing","transport":{"protocol":"http","tls":{}}}`},
		{"https upstream, wrapped http", "https://a:443", "\t\ttransport ws_addressing {\n\t\t\ttransport http {\n\t\t\t\tdial_timeout 1s\n\t\t\t}\n\t\t}",
			`{"protocol":"ws_addressing","transport":{"dial_timeout":1000000000,"protocol":"http","tls":{}}}`},
		{"h2c upstream", "h2c://a:80", "\t\ttransport ws_addressing",
			`{"protocol":"ws_addressing","transport":{"protocol":"http","versions":["h2c","2"]}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := adaptTransport(t, c.upstreams, c.block)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("transport\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"ws_addressing final":                                             "takes no arguments, got 'final'",
		"ws_addressing {\n\tversion wsa2004\n}":                           "invalid version 'wsa2004'",
		"ws_addressing {\n\tversion\n}":                                   "wrong argument count",
		"ws_addressing {\n\tversion final submission\n}":                  "got also 'submission'",
		"ws_addressing {\n\tversion final\n\tversion final\n}":            "version already specified",
		"ws_addressing {\n\tpreserve yes\n}":                              "preserve takes no arguments, got 'yes'",
		"ws_addressing {\n\tpreserve\n\tpreserve\n}":                      "preserve already specified",
		"ws_addressing {\n\tkeep\n}":                                      "unrecognized ws_addressing option 'keep'",
		"ws_addressing {\n\ttransport\n}":                                 "wrong argument count",
		"ws_addressing {\n\ttransport nosuch\n}":                          "http.reverse_proxy.transport.nosuch",
		"ws_addressing {\n\ttransport ws_addressing\n}":                   "cannot wrap another ws_addressing",
		"ws_addressing {\n\ttransport http\n\ttransport http\n}":          "transport already specified",
		"ws_addressing {\n\ttransport http {\n\t\tdial_timeout x\n\t}\n}": "bad timeout value 'x'",
	}
	for in, want := range cases {
		var tr addressing.Transport
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

// reverse_proxy refuses TLS over an http:// upstream and a wrapped transport
// that cannot do TLS for an https:// one, through the wrapper as without it.
func TestCaddyfileTLSChecks(t *testing.T) {
	_, err := adaptTransport(t, "http://a:80", "\t\ttransport ws_addressing {\n\t\t\ttransport http {\n\t\t\t\ttls\n\t\t\t}\n\t\t}")
	if err == nil || !strings.Contains(err.Error(), "upstream address scheme is HTTP but transport is configured for HTTP+TLS") {
		t.Errorf("http:// upstream with TLS: error %v", err)
	}
	_, err = adaptTransport(t, "https://a:443", "\t\ttransport ws_addressing {\n\t\t\ttransport fastcgi\n\t\t}")
	if err == nil || !strings.Contains(err.Error(), "does not support TLS") {
		t.Errorf("https:// upstream with fastcgi: error %v", err)
	}
}
