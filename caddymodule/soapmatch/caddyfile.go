package soapmatch

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	soap_xpath <expression> [<value>] {
//		namespace  <prefix> <uri>
//		peek_limit <size>
//	}
//
// <expression> is an XPath 1.0 expression; quote it if it holds spaces
// ("//m0:qty > 100"). Without <value> the request matches when the
// expression selects a node (or is true); with it, when the expression's
// string value (for nodes, the first one's) equals <value> exactly.
// namespace binds a prefix used in the expression, and may be repeated;
// soap11 and soapenv (SOAP 1.1) and soap12 (SOAP 1.2) are bound unless
// rebound here. peek_limit is the most bytes of the body read (default
// 64KiB, as simple_client_session's): a longer body does not match. A
// named matcher holds one soap_xpath; combine conditions in the expression
// (and, or) or with more matchers.
func (m *MatchSOAPXPath) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the matcher name
	if m.Expression != "" {
		return d.Err("soap_xpath: one expression per named matcher; combine conditions with and/or in it")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	m.Expression = d.Val()
	if d.NextArg() {
		v := d.Val()
		m.Value = &v
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch option := d.Val(); option {
		case "namespace":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("soap_xpath: namespace takes a prefix and a URI, got %d arguments", len(args))
			}
			if m.Namespaces == nil {
				m.Namespaces = map[string]string{}
			}
			if _, dup := m.Namespaces[args[0]]; dup {
				return d.Errf("soap_xpath: namespace prefix %q bound twice", args[0])
			}
			m.Namespaces[args[0]] = args[1]
		case "peek_limit":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size < 1 || size > maxPeekLimit {
				return d.Errf("soap_xpath: peek_limit %q: want a size from 1B to 1GiB, such as 64KiB", d.Val())
			}
			m.PeekLimit = int(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("soap_xpath: unknown option %q", option)
		}
	}
	if d.Next() {
		return d.Err("soap_xpath: one expression per named matcher; combine conditions with and/or in it")
	}
	return nil
}
