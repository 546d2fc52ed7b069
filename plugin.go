// Package caddysoapaffinity is the import path that xcaddy and Caddy binaries use
// to compile in the caddy-soap-affinity modules:
//
//	xcaddy build --with github.com/soap-affinity/caddy-soap-affinity
//
// The modules themselves live in package caddymodule (the ws_addressing
// transport in caddymodule/addressing); the domain logic lives in
// the Caddy-free packages sessionaffinity, soapfault and internal/soap.
package caddysoapaffinity

import (
	// Registers the Caddy modules and Caddyfile directives.
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule"
	// Registers the ws_addressing reverse_proxy transport.
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
)
