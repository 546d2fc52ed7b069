package addressing

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// The optional interfaces reverse_proxy (and its Caddyfile parsing and health
// checks) looks for on its transport are forwarded to the wrapped one, so that
// wrapping it changes nothing but the request bodies. A method the wrapped
// transport lacks answers as if the interface were not implemented.
//
// Not forwarded, on purpose: caddy.CleanerUpper and caddy.Validator. The
// wrapped transport is loaded with this module's caddy.Context, so Caddy
// validates it when it is loaded and cleans it up with this module's context;
// forwarding would run them twice. Caddy v2.11 asserts on the concrete type
// *reverseproxy.HTTPTransport in no place that this wrapper could stand in
// for: only where it builds one itself (the default transport when none is
// configured, `reverse_proxy` from the command line) and where the Caddyfile
// leaves out a transport equal to a zero HTTPTransport, which a ws_addressing
// transport never is.
var (
	_ caddy.Module                                     = (*Transport)(nil)
	_ caddy.Provisioner                                = (*Transport)(nil)
	_ caddyfile.Unmarshaler                            = (*Transport)(nil)
	_ http.RoundTripper                                = (*Transport)(nil)
	_ reverseproxy.TLSTransport                        = (*Transport)(nil)
	_ reverseproxy.H2CTransport                        = (*Transport)(nil)
	_ reverseproxy.ProxyProtocolTransport              = (*Transport)(nil)
	_ reverseproxy.HealthCheckSchemeOverriderTransport = (*Transport)(nil)
	_ reverseproxy.BufferedTransport                   = (*Transport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport           = (*Transport)(nil)
	_ reverseproxy.ContentLengthRequiredTransport      = (*Transport)(nil)
)

// TLSEnabled reports whether the wrapped transport uses TLS; reverse_proxy's
// Caddyfile parsing checks it against the upstreams' scheme.
func (t *Transport) TLSEnabled() bool {
	te, ok := t.next.(reverseproxy.TLSTransport)
	return ok && te.TLSEnabled()
}

// EnableTLS enables TLS on the wrapped transport, as reverse_proxy's Caddyfile
// parsing does for https:// upstreams.
func (t *Transport) EnableTLS(base *reverseproxy.TLSConfig) error {
	te, ok := t.next.(reverseproxy.TLSTransport)
	if !ok {
		return fmt.Errorf("wrapped transport %s (%T) does not support TLS", t.nextName, t.next)
	}
	if err := te.EnableTLS(base); err != nil {
		return err
	}
	t.reencode()
	return nil
}

// EnableH2C enables h2c on the wrapped transport, as reverse_proxy's
// Caddyfile parsing does for h2c:// upstreams.
func (t *Transport) EnableH2C() error {
	h2c, ok := t.next.(reverseproxy.H2CTransport)
	if !ok {
		return fmt.Errorf("wrapped transport %s (%T) does not support h2c", t.nextName, t.next)
	}
	if err := h2c.EnableH2C(); err != nil {
		return err
	}
	t.reencode()
	return nil
}

// reencode writes the wrapped transport back into TransportRaw after a change
// made while adapting a Caddyfile (EnableTLS, EnableH2C): reverse_proxy then
// encodes this transport, and with it the changed one.
func (t *Transport) reencode() {
	if t.nextName != "" {
		t.TransportRaw = caddyconfig.JSONModuleObject(t.next, "protocol", t.nextName, nil)
	}
}

// ProxyProtocolEnabled reports whether the wrapped transport speaks the PROXY
// protocol; reverse_proxy then puts the client address into the request's
// URL host.
func (t *Transport) ProxyProtocolEnabled() bool {
	p, ok := t.next.(reverseproxy.ProxyProtocolTransport)
	return ok && p.ProxyProtocolEnabled()
}

// OverrideHealthCheckScheme lets the wrapped transport set the scheme of
// active health checks (https when it uses TLS).
func (t *Transport) OverrideHealthCheckScheme(base *url.URL, port string) {
	if o, ok := t.next.(reverseproxy.HealthCheckSchemeOverriderTransport); ok {
		o.OverrideHealthCheckScheme(base, port)
	}
}

// DefaultBufferSizes returns the wrapped transport's default request and
// response buffer sizes (0, 0 if it has none).
func (t *Transport) DefaultBufferSizes() (int64, int64) {
	if b, ok := t.next.(reverseproxy.BufferedTransport); ok {
		return b.DefaultBufferSizes()
	}
	return 0, 0
}

// RequestHeaderOps returns the wrapped transport's request header operations
// (the http transport's Host for TLS upstreams), which reverse_proxy applies
// before header_up.
func (t *Transport) RequestHeaderOps() *headers.HeaderOps {
	if r, ok := t.next.(reverseproxy.RequestHeaderOpsTransport); ok {
		return r.RequestHeaderOps()
	}
	return nil
}

// RequiresContentLength reports whether the wrapped transport needs the
// length of a request body (FastCGI does); reverse_proxy then buffers bodies
// sent without one. This transport keeps a known length known.
func (t *Transport) RequiresContentLength() bool {
	c, ok := t.next.(reverseproxy.ContentLengthRequiredTransport)
	return ok && c.RequiresContentLength()
}
