// Package caddymodule is the Caddy glue of caddy-soap-affinity: it registers the
// modules, parses their Caddyfile syntax, provisions them and exposes them to
// Caddy's admin API and metrics. The logic lives in the Caddy-free packages
// sessionaffinity, soapfault and internal/soap.
package caddymodule
