// Package sessionaffinity is the Caddy-free domain of caddy-soap-affinity: it
// finds the session id a client names (an HTTP header, or the Synapse ClientID
// block in a SOAP 1.1/1.2 Header), keeps the table that binds each session to
// an upstream, with sliding expiry and a size bound, and holds the routing
// rules (Router): follow, bind, fail over and rebind, or refuse.
//
// Upstreams are identified by a string key (Caddy's dial address), never by a
// pointer or an index, so that bindings survive a change of the upstream pool.
package sessionaffinity
