package addressing

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens:
//
//	transport ws_addressing {
//		version   final|submission
//		preserve
//		transport <name> {
//			<options of the wrapped transport>
//		}
//	}
//
// version defaults to final; preserve keeps the WS-Addressing blocks the
// client sent; transport is the wrapped transport (any
// http.reverse_proxy.transport module, with its own block), default http.
// Each option may be given once. The block may be left out.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume the transport name
	if d.NextArg() {
		return d.Errf("ws_addressing takes no arguments, got '%s'", d.Val())
	}
	var sawVersion, sawPreserve bool
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "version":
			if sawVersion {
				return d.Err("version already specified")
			}
			sawVersion = true
			if !d.NextArg() {
				return d.ArgErr()
			}
			if _, err := soap.NewAddressing(d.Val(), false); err != nil {
				return d.Errf("invalid version '%s': %v", d.Val(), err)
			}
			t.Version = d.Val()
			if d.NextArg() {
				return d.Errf("version takes one argument, got also '%s'", d.Val())
			}
		case "preserve":
			if sawPreserve {
				return d.Err("preserve already specified")
			}
			sawPreserve = true
			t.Preserve = true
			if d.NextArg() {
				return d.Errf("preserve takes no arguments, got '%s'", d.Val())
			}
		case "transport":
			if t.nextName != "" {
				return d.Err("transport already specified")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			if name == "ws_addressing" {
				return d.Err("ws_addressing cannot wrap another ws_addressing transport")
			}
			unm, err := caddyfile.UnmarshalModule(d, "http.reverse_proxy.transport."+name)
			if err != nil {
				return err
			}
			rt, ok := unm.(http.RoundTripper)
			if !ok {
				return d.Errf("transport '%s' (%T) is not a RoundTripper", name, unm)
			}
			t.next, t.nextName = rt, name
			t.TransportRaw = caddyconfig.JSONModuleObject(rt, "protocol", name, nil)
		default:
			return d.Errf("unrecognized ws_addressing option '%s'", opt)
		}
	}
	if t.next == nil {
		// The default, kept here so that reverse_proxy's Caddyfile parsing
		// can enable TLS on it for https:// upstreams; encoded only if so.
		t.next, t.nextName = new(reverseproxy.HTTPTransport), "http"
	}
	return nil
}
