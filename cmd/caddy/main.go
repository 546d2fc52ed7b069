// Command caddy is a Caddy binary with the caddy-soap-affinity plugin compiled in.
// It is what the demo, the end-to-end tests and the benchmarks run; production
// builds use `xcaddy build --with github.com/soap-affinity/caddy-soap-affinity`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// The standard Caddy modules, as in the official binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// This plugin's modules.
	_ "github.com/soap-affinity/caddy-soap-affinity"
)

func main() {
	caddycmd.Main()
}
