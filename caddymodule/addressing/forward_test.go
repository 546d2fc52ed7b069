package addressing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
)

// fakeTransport implements every optional interface reverse_proxy looks for
// on its transport, each answering something recognizable.
type fakeTransport struct {
	TLS bool `json:"tls,omitempty"`
	h2c bool
}

func (fakeTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.reverse_proxy.transport.ws_addressing_test_fake", New: func() caddy.Module { return new(fakeTransport) }}
}
func (*fakeTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }
func (f *fakeTransport) TLSEnabled() bool                              { return f.TLS }
func (f *fakeTransport) EnableTLS(*reverseproxy.TLSConfig) error       { f.TLS = true; return nil }
func (f *fakeTransport) EnableH2C() error                              { f.h2c = true; return nil }
func (*fakeTransport) ProxyProtocolEnabled() bool                      { return true }
func (*fakeTransport) OverrideHealthCheckScheme(u *url.URL, _ string)  { u.Scheme = "fake" }
func (*fakeTransport) DefaultBufferSizes() (int64, int64)              { return 7, 8 }
func (*fakeTransport) RequiresContentLength() bool                     { return true }
func (*fakeTransport) RequestHeaderOps() *headers.HeaderOps {
	return &headers.HeaderOps{Set: http.Header{"X-Fake": []string{"1"}}}
}

func init() { caddy.RegisterModule(fakeTransport{}) }

func provisioned(t *testing.T, raw string) *addressing.Transport {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	var tr addressing.Transport
	if err := json.Unmarshal([]byte(raw), &tr); err != nil {
		t.Fatal(err)
	}
	if err := tr.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return &tr
}

// The wrapper answers the optional interfaces as the wrapped transport does.
func TestForwardsOptionalInterfaces(t *testing.T) {
	tr := provisioned(t, `{"transport":{"protocol":"ws_addressing_test_fake","tls":true}}`)
	if !tr.TLSEnabled() || !tr.ProxyProtocolEnabled() || !tr.RequiresContentLength() {
		t.Errorf("TLSEnabled %v, ProxyProtocolEnabled %v, RequiresContentLength %v: want all true",
			tr.TLSEnabled(), tr.ProxyProtocolEnabled(), tr.RequiresContentLength())
	}
	if req, resp := tr.DefaultBufferSizes(); req != 7 || resp != 8 {
		t.Errorf("DefaultBufferSizes %d, %d", req, resp)
	}
	if ops := tr.RequestHeaderOps(); ops == nil || ops.Set.Get("X-Fake") != "1" {
		t.Errorf("RequestHeaderOps %+v", ops)
	}
	u := &url.URL{Scheme: "http"}
	if tr.OverrideHealthCheckScheme(u, "80"); u.Scheme != "fake" {
		t.Errorf("health check scheme %q", u.Scheme)
	}
	if err := tr.EnableH2C(); err != nil {
		t.Error(err)
	}
}

// Over Caddy's http transport, as a plain one would answer.
func TestForwardsToHTTPTransport(t *testing.T) {
	plain := provisioned(t, `{}`)
	if plain.TLSEnabled() || plain.ProxyProtocolEnabled() || plain.RequiresContentLength() || plain.RequestHeaderOps() != nil {
		t.Error("the default http transport reports TLS, PROXY protocol, a length requirement or header ops")
	}
	tls := provisioned(t, `{"transport":{"protocol":"http","tls":{"insecure_skip_verify":true},"proxy_protocol":"v2"}}`)
	if !tls.TLSEnabled() || !tls.ProxyProtocolEnabled() {
		t.Error("TLS or PROXY protocol of the wrapped http transport not reported")
	}
	if ops := tls.RequestHeaderOps(); ops == nil || ops.Set.Get("Host") != "{http.reverse_proxy.upstream.hostport}" {
		t.Errorf("RequestHeaderOps %+v, want the http transport's Host for TLS", ops)
	}
	u := &url.URL{Scheme: "http"}
	if tls.OverrideHealthCheckScheme(u, "443"); u.Scheme != "https" {
		t.Errorf("health check scheme %q, want https", u.Scheme)
	}
}
