package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

// The plugin's handlers go before reverse_proxy, so that they wrap the proxy
// without an order line. One init orders them all, since the later one lands
// closer to reverse_proxy: soap_fault, then learn_sessions, then the proxy.
// learn_sessions thus sees only what the upstream answered, never a fault
// that soap_fault writes in place of an error.
func init() {
	httpcaddyfile.RegisterDirectiveOrder("soap_fault", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("learn_sessions", httpcaddyfile.Before, "reverse_proxy")
}
