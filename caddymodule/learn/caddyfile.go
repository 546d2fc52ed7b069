package learn

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("learn_sessions", parseLearnSessionsCaddyfile)
}

func parseLearnSessionsCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(LearnSessions)
	if err := l.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return l, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	learn_sessions [<matcher>]
//
// It has no options. It is ordered before reverse_proxy (and after soap_fault)
// without an order line; inside a route block, write it before reverse_proxy.
func (*LearnSessions) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("learn_sessions takes no options, got '%s'", d.Val())
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*LearnSessions)(nil)
