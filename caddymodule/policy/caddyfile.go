package policy

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/dustin/go-humanize"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	lb_policy simple_client_session {
//		name            <name>
//		session         simple_client|http|soap
//		header          <field> [<field>...]
//		cookie          <name> [<name>...]
//		soap_header     <{namespace}LocalName>|off
//		timeout         <duration>
//		expiry          sliding|fixed
//		max_lifetime    <duration>
//		placement       fallback|least_sessions|hash
//		hash_balance_factor <factor above 1>
//		max_sessions    <count>
//		max_id_length   <bytes>
//		peek_limit      <size>
//		strict
//		log_session_ids
//		fallback        <policy> [{
//			<policy options>
//		}]
//		store redis {
//			<redis options: see unmarshalStore>
//		}
//	}
//
// Every option may be left out; the block too. WS-Addressing, once the
// policy's addressing option, is the ws_addressing transport's.
func (p *SimpleClientSession) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the policy name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		option := d.Val()
		var err error
		switch option {
		case "name":
			err = oneArg(d, option, stringSetter(&p.Name))
		case "session":
			err = oneArg(d, option, func(v string) error {
				_, err := sessionaffinity.ParseSessionType(v)
				p.Session = v
				return err
			})
		case "header":
			p.Headers = d.RemainingArgs()
			if len(p.Headers) == 0 {
				return d.ArgErr()
			}
		case "cookie":
			p.Cookies = d.RemainingArgs()
			if len(p.Cookies) == 0 {
				return d.ArgErr()
			}
		case "soap_header":
			err = oneArg(d, option, stringSetter(&p.SOAPHeader))
		case "timeout":
			err = oneArg(d, option, func(v string) error {
				dur, err := caddy.ParseDuration(v)
				if err != nil {
					return err
				}
				p.Timeout = caddy.Duration(dur)
				return checkTimeout(dur)
			})
		case "expiry":
			err = oneArg(d, option, stringSetter(&p.Expiry))
		case "max_lifetime":
			err = oneArg(d, option, durationSetter(&p.MaxLifetime))
		case "placement":
			err = oneArg(d, option, stringSetter(&p.Placement))
		case "hash_balance_factor":
			err = oneArg(d, option, func(v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f == 0 {
					return sessionaffinity.ErrHashBalanceFactor
				}
				p.HashBalanceFactor = f
				return checkHashBalanceFactor(f)
			})
		case "max_sessions":
			err = oneArg(d, option, func(v string) (err error) { p.MaxSessions, err = positiveInt(v); return err })
		case "max_id_length":
			err = oneArg(d, option, func(v string) (err error) { p.MaxIDLength, err = positiveInt(v); return err })
		case "peek_limit":
			err = oneArg(d, option, func(v string) error {
				size, err := humanize.ParseBytes(v)
				if err != nil || size > maxPeekLimit {
					return errPeekLimit
				}
				p.PeekLimit = int(size)
				return checkPeekLimit(p.PeekLimit)
			})
		case "strict":
			p.Strict = true
			if d.NextArg() {
				return d.ArgErr()
			}
		case "log_session_ids":
			p.LogSessionIDs = true
			if d.NextArg() {
				return d.ArgErr()
			}
		case "addressing":
			// The policy wrote WS-Addressing until the transport did.
			err = d.Err("addressing is the ws_addressing transport's now, so that it works with any lb_policy: " +
				"write `transport ws_addressing` in the reverse_proxy block instead (see docs/addressing.md)")
		case "fallback":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if p.FallbackRaw != nil {
				return d.Err("fallback selection policy already specified")
			}
			p.FallbackRaw, err = loadFallbackPolicy(d)
			if err != nil {
				return err
			}
		case "store":
			err = p.unmarshalStore(d)
		default:
			return d.Errf("unrecognized simple_client_session option '%s'", option)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// oneArg reads exactly one argument and hands it to set; an error from set
// names the option and the value.
func oneArg(d *caddyfile.Dispenser, option string, set func(string) error) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	if err := set(d.Val()); err != nil {
		return d.Errf("invalid %s '%s': %v", option, d.Val(), err)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// stringSetter returns a setter for oneArg that stores the value as it is.
func stringSetter(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errPositiveInt
	}
	return n, checkPositive(n)
}

// loadFallbackPolicy parses a nested selection policy, as Caddy's own
// policies do for their fallback.
func loadFallbackPolicy(d *caddyfile.Dispenser) ([]byte, error) {
	name := d.Val()
	if name == "" {
		// Caddy would look up the module "...selection_policies." and name no value.
		return nil, d.Err("fallback needs the name of a selection policy, got ''")
	}
	modID := "http.reverse_proxy.selection_policies." + name
	unm, err := caddyfile.UnmarshalModule(d, modID)
	if err != nil {
		return nil, err
	}
	sel, ok := unm.(reverseproxy.Selector)
	if !ok {
		return nil, d.Errf("module %s (%T) is not a reverseproxy.Selector", modID, unm)
	}
	return caddyconfig.JSONModuleObject(sel, "policy", name, nil), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*SimpleClientSession)(nil)
