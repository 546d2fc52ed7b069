package faulthandler

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/soap-affinity/caddy-soap-affinity/soapfault"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("soap_fault", parseSOAPFaultCaddyfile) // ordered in package caddymodule
}

func parseSOAPFaultCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	sf := new(SOAPFault)
	if err := sf.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return sf, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	soap_fault [<matcher>] {
//		version soap11|soap12|pox|auto
//		code    [<prefix>:]<Local>
//		reason  <text>
//		actor   <uri>            # or: role <uri>
//		node    <uri>
//		detail  <xml-fragment-or-text>
//		status  <http-status>
//		on      <http-status...>
//	}
//
// Every subdirective is optional and may appear once, except on, whose
// statuses accumulate. The block itself may be omitted: `soap_fault` alone
// sends Synapse's default SOAP 1.1 fault (soap11Env:VersionMismatch, "COULDN'T
// SEND THE MESSAGE TO THE SERVER.", HTTP 500) on 502, 503 and 504.
func (h *SOAPFault) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if name != "on" {
			key := name
			if key == "actor" {
				key = "role"
			}
			if seen[key] {
				return d.Errf("soap_fault: %s specified more than once", name)
			}
			seen[key] = true
		}
		switch name {
		case "version", "code", "reason", "actor", "role", "node", "detail", "status":
			var val string
			if !d.AllArgs(&val) {
				return d.ArgErr()
			}
			switch name {
			case "version":
				if _, err := soapfault.ParseVersion(val); err != nil {
					return d.Errf("soap_fault: %v", err)
				}
				h.Version = val
			case "code":
				if _, err := soapfault.ParseCode(val); err != nil {
					return d.Errf("soap_fault: %v", err)
				}
				h.Code = val
			case "reason":
				h.Reason = val
			case "actor", "role":
				h.Role = val
			case "node":
				h.Node = val
			case "detail":
				h.Detail = val
			case "status":
				code, err := strconv.Atoi(val)
				if err != nil {
					return d.Errf("soap_fault: bad status %q: %v", val, err)
				}
				h.StatusCode = code
			}
		case "on":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				code, err := strconv.Atoi(a)
				if err != nil {
					return d.Errf("soap_fault: on: bad status %q: %v", a, err)
				}
				h.On = append(h.On, code)
			}
		default:
			return d.Errf("soap_fault: unknown subdirective %q", name)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*SOAPFault)(nil)
