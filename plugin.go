// Package caddysoapaffinity is the import path that xcaddy and Caddy binaries use
// to compile in the caddy-soap-affinity modules:
//
//	xcaddy build --with github.com/soap-affinity/caddy-soap-affinity
//
// The modules themselves live in the packages under caddymodule/, one per
// module, which package caddymodule ties together; the domain logic lives in
// the Caddy-free packages sessionaffinity, soapfault, internal/soap and
// synapse.
package caddysoapaffinity

import (
	// Registers the Caddy modules and Caddyfile directives.
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule"
)
