// Package caddymodule ties together the Caddy modules of caddy-soap-affinity,
// one package each, as caddy-l4's imports file does:
//
//	policy/          http.reverse_proxy.selection_policies.simple_client_session
//	addressing/      http.reverse_proxy.transport.ws_addressing (WS-Addressing)
//	learn/           http.handlers.learn_sessions
//	faulthandler/    http.handlers.soap_fault
//	soapmatch/       http.matchers.soap_xpath (content-based routing on XPath)
//	admin/           admin.api.soap_affinity and `caddy soap-affinity`
//	synapseadapter/  the synapse config adapter and `caddy synapse`
//	state/           what outlives a reload: one registry keyed by policy name
//
// Importing this package registers them all, with the Caddyfile order of the
// handlers. Its tests run the modules together through a real Caddy. The
// logic lives in the Caddy-free packages sessionaffinity, soapfault,
// internal/soap and synapse.
package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	// The modules, registered by their init functions.
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/admin"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/faulthandler"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/learn"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/policy"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/soapmatch"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/synapseadapter"
)

// The plugin's handlers go before reverse_proxy, so that they wrap the proxy
// without an order line. One init orders them all, since the later one lands
// closer to reverse_proxy: soap_fault, then learn_sessions, then the proxy.
// learn_sessions thus sees only what the upstream answered, never a fault
// that soap_fault writes in place of an error.
func init() {
	httpcaddyfile.RegisterDirectiveOrder("soap_fault", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("learn_sessions", httpcaddyfile.Before, "reverse_proxy")
}
