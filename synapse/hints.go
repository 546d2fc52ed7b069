package synapse

import (
	"regexp"
	"strings"
)

// What to do instead of what the adapter refuses, one line each: the
// "hint:" line of a refusal. The table is keyed by the refused element and
// what the refusal names of it (an attribute, a transport, a scheme); the
// first entry that fits wins, so specific entries come before an element's
// catch-all and the catch-alls of any element come last.

// Hints shared by several entries.
const (
	hintTransform = "this mediator changes the message, which Caddy does not: keep it in the service, or in an HTTP handler in front of Caddy that does the same"
	hintOutside   = "Caddy proxies HTTP and HTTPS only: keep this in MI (or the broker or system it talks to) and let Caddy carry the HTTP part"
	hintRuntime   = "it runs inside MI, on its own schedule or store, not on a request: keep it in MI next to Caddy"
	hintMissing   = "adapt the files that define it together: `caddy synapse --dir` reads a whole deployment folder, `caddy adapt` one <definitions>"
	hintRoute     = "write the choice as Caddy request matchers (path, header, method, soap_xpath) in a Caddyfile, one route a branch"
	hintFlatten   = "flatten the group: list the address endpoints in one loadbalance or failover (Caddy's upstreams of one reverse_proxy)"
	hintMalformed = "fix the file where it says: Synapse and MI refuse it too"
	hintAsIs      = "Caddy forwards the request as it came: remove the attribute, or convert the message in the service or in a handler in front of Caddy"
	hintResponse  = "Caddy sends the response back to the client on its own: remove the attribute and use <respond/> or <send/> without one"
)

type hint struct {
	element string // the refused element's tag; "" for any element
	about   string // what the refusal's message must name; "" for any refusal of element
	text    string
}

var hints = []hint{
	// Transports, schemes and attributes.
	{"proxy", "names no transport", "list http, https or both in transports"},
	{"proxy", "transport", hintOutside},
	{"address", "scheme", hintOutside},
	{"address", "not an http or https URL", hintOutside},
	{"address", "format=", hintAsIs},
	{"address", "optimize=", hintAsIs},
	{"address", "variables", "give the endpoint's URL literally; a URL computed per message stays in MI"},
	{"address", "query or fragment", "drop the query from the endpoint's URL: Caddy keeps the request's own query"},
	{"send", "receive", hintResponse},
	{"call", "receive", hintResponse},
	{"property", "scope", "only default and transport (HTTP header) properties, and the axis2 ones listed, are mapped: set the value in the service, or as a header with scope=\"transport\""},
	{"", "is not a local file", "download it next to the configuration and give its path (a file: URL or a path relative to the file that names it), or inline its content"},
	{"", "evaluated per message", "give a literal value: an expression evaluated on each message stays in MI, or in a handler in front of Caddy"},
	{"", "expression=", "give a literal value: an expression evaluated on each message stays in MI, or in a handler in front of Caddy"},
	{"", "dynamic sequence key", "name the sequence literally; choosing it per message is a route: " + hintRoute},
	{"", "key-expression", "name the endpoint with key; choosing it per message is a route: " + hintRoute},
	{"resource", "RE2 cannot match alike", "write the same match in RE2 syntax (no lookaround, backreferences, possessive or atomic groups, nested classes or class intersection), or match the User-Agent in a Caddy route in front of the adapted API's"},
	{"resource", "is not a protocol", hintMalformed},
	{"sequence", "that no resource takes", "answer those requests in a Caddy route after the adapted API's (the adapter answers them 404 or 405 with no body, as Synapse does without the sequence)"},
	{"", "no sequence named", hintMissing},
	{"", "no endpoint named", hintMissing},
	{"", "calls itself", "break the cycle: a sequence that reaches itself never ends in Synapse either"},
	{"", "refers to itself", "break the cycle: an endpoint that refers to itself never resolves in Synapse either"},
	{"", "malformed XML", hintMalformed},
	{"", "no XML element", hintMalformed},
	{"", "encoding", "save the file as UTF-8 (and say so in its XML declaration)"},
	{"", "a nested", hintFlatten},
	{"call-template", "onError", "move the error handling to the onError of the sequence that calls the template, or to the faultSequence"},
	{"", "makefault is supported in a faultSequence only", "move the makefault to the faultSequence: Caddy answers the fault when the backend fails"},
	{"", "a second call or send", "one request goes to one upstream in Caddy: chain services in the backend, or keep the orchestration in MI"},
	{"", "without an endpoint", "give the <send> an endpoint with the service's address"},

	// Mediators that change the message.
	{"payloadFactory", "", hintTransform},
	{"xslt", "", hintTransform},
	{"fastXSLT", "", hintTransform},
	{"xquery", "", hintTransform},
	{"script", "", hintTransform},
	{"enrich", "", hintTransform},
	{"datamapper", "", hintTransform},
	{"jsontransform", "", hintTransform},
	{"smooks", "", hintTransform},
	{"rewrite", "", "rewrite the URL with Caddy's rewrite or uri handler in the route"},
	{"builder", "", hintTransform},
	{"class", "", hintTransform},
	{"pojoCommand", "", hintTransform},
	{"bean", "", hintTransform},
	{"spring", "", hintTransform},
	{"ejb", "", hintTransform},
	{"dblookup", "", hintTransform},
	{"dbreport", "", hintTransform},
	{"dataServiceCall", "", hintTransform},
	{"validate", "", "validate the message in the service, or in a handler in front of Caddy: the adapter does not check schemas"},
	{"foreach", "", hintTransform},
	{"iterate", "", "splitting a message into several calls is orchestration: keep it in MI or in the service"},
	{"clone", "", "sending one message to several endpoints is orchestration: keep it in MI, or mirror traffic with a handler in front of Caddy"},
	{"aggregate", "", "merging several responses is orchestration: keep it in MI or in the service"},
	{"callout", "", "give the call an endpoint with <call> (or <send>), which the adapter maps to reverse_proxy"},
	{"cache", "", "use a caching handler in front of Caddy's reverse_proxy (such as the cache-handler plugin), or keep the cache in MI"},
	{"throttle", "", "limit the rate with a rate-limiting handler in Caddy (such as the rate_limit plugin), or keep the throttle in MI"},
	{"conditionalRouter", "", hintRoute},
	{"router", "", hintRoute},
	{"switch", "", hintRoute},
	{"filter", "", hintRoute},
	{"store", "", hintOutside},
	{"enqueue", "", hintOutside},
	{"event", "", hintOutside},
	{"eventPublisher", "", hintOutside},
	{"publishEvent", "", hintOutside},
	{"transaction", "", hintRuntime},
	{"entitlementService", "", "authorize in Caddy (forward_auth to the entitlement service), or keep it in MI"},
	{"oauthService", "", "authenticate in Caddy (forward_auth to the OAuth server), or keep it in MI"},
	{"ntlm", "", "keep NTLM to the backend in MI: Caddy's reverse_proxy does not authenticate to upstreams"},
	{"loopback", "", "use <respond/> to send the message back, which the adapter maps"},

	// Artifacts and elements the adapter does not map.
	{"localEntry", "", "give the entry an endpoint, a sequence, a template or text, inline or in a local src file"},
	{"", " holds <", "point the key at a resource of the kind used there: an endpoint where an endpoint is called, a sequence where a sequence runs"},
	{"", "registry folder", "give MI's registry folder to the adapter: `caddy synapse --registry DIR`, or SYNAPSE_REGISTRY=DIR for `caddy adapt` and `caddy run`"},
	{"registry", "", "give the registry's resources as files of MI's registry folder, and that folder to the adapter (--registry DIR or SYNAPSE_REGISTRY)"},
	{"template", "", "give the template's parameters literal values, as <parameter name=\"p\" value=\"v\"/> or <with-param name=\"p\" value=\"v\"/>"},
	{"call-template", "", "give the template's parameters literal values, as <with-param name=\"p\" value=\"v\"/>"},
	{"task", "", hintRuntime},
	{"messageStore", "", hintRuntime},
	{"messageProcessor", "", hintRuntime},
	{"inboundEndpoint", "", hintOutside},
	{"eventSource", "", hintOutside},
	{"priorityExecutor", "", hintRuntime},
	{"executor", "", hintRuntime},
	{"import", "", "connectors run inside MI: keep the calls that use them in MI"},
	{"enableSec", "", "terminate TLS in Caddy (transports=\"https\"); WS-Security on the message stays in the service or in MI"},
	{"enableRM", "", "WS-ReliableMessaging stays in the service or in MI: Caddy carries the messages as they come"},
	{"enableAddressing", "", "use enableAddressing on the address endpoint, which the adapter maps, or remove it"},
	{"retryConfig", "", "Caddy cannot tell Synapse's error codes apart: it tries the next upstream of a group when connecting fails (lb_retries), whatever the codes; remove retryConfig to accept that, or keep the failover in MI"},
	{"parameter", "", "endpoint parameters are not read: set the endpoint's behaviour with timeout, suspendOnFailure and markForSuspension"},
	{"session", "loadbalance endpoint only", "put the session on a loadbalance endpoint, as the WSO2 session-affinity sample does"},
	{"session", "session type", "use simpleClientSession, http or soap, the session types Caddy's simple_client_session policy reads"},

	// Endpoint kinds.
	{"wsdl", "", "give an address endpoint with the service's URL (the soap:address of the WSDL's port)"},
	{"http", "", "give an address endpoint with the URL, when it has no variables"},
	{"default", "", "give an address endpoint with the service's URL, or list the hosts the message's To may name (send-to)"},
	{"recipientlist", "", "sending one message to several endpoints is orchestration: keep it in MI"},
	{"dynamicLoadbalance", "", hintFlatten},
	{"", "endpoint not supported", "use an address, loadbalance or failover endpoint, or a key naming one"},
	{"in", "", "move the mediators of <in> to the proxy's inSequence and those of <out> to its outSequence"},
	{"out", "", "move the mediators of <in> to the proxy's inSequence and those of <out> to its outSequence"},

	// Values and structure.
	{"makefault", "fault code", "use a code of the fault's SOAP version, or leave version out: the fault then answers in the request's version and takes the codes of either"},
	{"loadbalance", "algorithm", "use RoundRobin, WeightedRoundRobin or WeightedRRLCAlgorithm; a custom algorithm stays in MI, or becomes a Caddy selection policy"},
	{"", "differs from the first endpoint's", "give the members of one group the same scheme, path and WS-Addressing, or split them into groups of their own"},
	{"api", "the API is served", "remove it: the ports are the adapter's (--http-port, --https-port), and a host is a host matcher in a Caddyfile"},
	{"", "uri-template", "write the template as a path, with {variables} between slashes only and no *"},
	{"", "url-mapping", "write the mapping as /path, /path/* or *.ext"},
	{"api", "is not a path", "give the API a context that is a path starting with /, without * or ?"},
	{"header", "SOAP header", "change other SOAP headers in the service, or in a handler in front of Caddy; the adapter maps Action, removing To, and transport headers"},
	{"property", "RESPONSE", "use <respond/> to answer without the backend"},
	{"", "transport headers of a fault", "set the header in Caddy's handle_errors routes of a Caddyfile, or in the service's fault"},
	{"", "inline XML", hintTransform},
	{"", "neither calls an endpoint nor responds", "give the target an endpoint, or end the inSequence with <call>, <send> or <respond>"},
	{"", "sending to an endpoint from the", "call the endpoint from the inSequence; calling another one with the response is orchestration: keep it in MI"},
	{"", "not a proxy service name", "name the proxy with letters, digits, - and _: its name is its path, /services/NAME"},
	{"", "no target", "give the proxy a <target> with an endpoint"},
	{"", "a top-level", "name it, as Synapse requires (it refuses the definition too); a resource of MI's registry, which has no name, is read where a key names it: give its registry folder to the adapter (--registry DIR) instead of adapting the file alone"},
	{"", "needs a", "give it what the message names, as Synapse requires"},
	{"", "more than", "inline fewer sequences: these call each other so often that the mapped flow would be too large"},
	{"", "no endpoints", "list the group's member endpoints"},
	{"", "no endpoint body", "give the endpoint an address, loadbalance or failover, or a key naming one"},
	{"", "a second ", "keep one of them: the message says which one is the second"},
	{"", "not a duration", "write it as the whole number the message asks for"},
	{"", "whole number", "write it as the whole number the message asks for"},
	{"", "must be positive", "give a positive number of milliseconds"},
	{"", "out of range", "use a port from 1 to 65535"},
	{"", "variables are not supported", "write the path literally; a path computed per message stays in MI"},
	{"", "is not supported (supported:", "use one of the values the message lists"},

	// Catch-alls.
	{"", "not supported in ", "remove it, or keep what it does in MI: the message lists what the adapter maps here"},
	{"", "artifact not supported", "serve it as a proxy or API: Caddy maps what receives requests, and the sequences and endpoints they use"},
	{"", "mediator not supported", "keep this step in the service, or in a handler in front of Caddy; the adapter maps routing, headers and faults only"},
}

// quotedValue is a name or value that a message quotes: the hints match
// what the message says around them, never the user's names.
var quotedValue = regexp.MustCompile(`"[^"]*"`)

// hintFor is what to do instead of the refusal of element with message, or
// "" when the table has no entry for it.
func hintFor(element, message string) string {
	said := quotedValue.ReplaceAllString(message, `""`)
	for _, h := range hints {
		if (h.element == "" || h.element == element) && strings.Contains(said, h.about) {
			return h.text
		}
	}
	return ""
}
