// Package sessionaffinity is the Caddy-free domain of caddy-soap-affinity.
// IDSource finds the session id a request names (an HTTP header, a cookie, or
// a block of its SOAP 1.1/1.2 Header, Synapse's ClientID by default) and, for
// the http and soap session types, the id a response hands out (a Set-Cookie,
// or a ServiceGroupId in its wsa:ReplyTo). A Store binds each session to an
// upstream: Table in this process, with sliding or fixed expiry and a size
// bound, and redisstore.Store shared between nodes. The Router holds the
// routing rules: follow, bind where the placement puts a new session
// (fallback, least_sessions or hash of the id, never a draining upstream),
// fail over and rebind, or refuse; and it learns the sessions that responses
// hand out.
//
// Upstreams are identified by a string key (Caddy's dial address), never by a
// pointer or an index, so that bindings survive a change of the upstream pool.
package sessionaffinity
