package synapse

import (
	"net/http"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// How Synapse's API.process answers a request by its method, which the
// routes of an API answer the same way.

// methods are those a resource may list (RESTConstants.METHODS).
var methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// allSupportedMethods is the Allow of a resource that lists no methods
// (RESTConstants.REST_ALL_SUPPORTED_METHODS).
const allSupportedMethods = "GET, POST, PUT, DELETE"

// resourceMethods are the methods of a resource, in the order a Java
// HashSet holds them, as Resource does: its Allow lists them so.
func (c *compiler) resourceMethods(r *etree.Element) ([]string, error) {
	var list []string
	for _, m := range strings.Fields(r.SelectAttrValue("methods", "")) {
		if !slices.Contains(methods, m) {
			return nil, c.errorf(r, "method %q is not supported (supported: %s)", m, strings.Join(methods, " "))
		}
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return javaHashSetOrder(list), nil
}

// javaHashSetOrder is the order a java.util.HashSet<String> created with
// capacity 4 (Resource's methods) iterates the distinct strings added in
// this order: by bucket, String.hashCode spread as HashMap.hash does, over
// the table the set has grown to (doubled past three quarters full); in a
// bucket, in the order added.
func javaHashSetOrder(added []string) []string {
	table := 4
	for len(added) > table*3/4 {
		table *= 2
	}
	bucket := func(s string) int32 {
		// String.hashCode sums UTF-16 units: the bytes, for the ASCII
		// names of methods, the only strings resourceMethods passes.
		var h int32
		for i := range len(s) {
			h = 31*h + int32(s[i])
		}
		return (h ^ int32(uint32(h)>>16)) & int32(table-1)
	}
	ordered := slices.Clone(added)
	slices.SortStableFunc(ordered, func(a, b string) int { return int(bucket(a) - bucket(b)) })
	return ordered
}

// optionsRoute answers an OPTIONS request on the resource's path before the
// resource's own route: Resource.canProcess takes OPTIONS whatever the
// methods, and Resource.sendOptions answers it, 200 with the methods but
// OPTIONS in Allow, unless the resource lists OPTIONS; then the resource
// mediates it, and answers only one whose Max-Forwards is 0. Only the
// resource's protocol applies to OPTIONS, not its headers.
//
// An OPTIONS that such a resource sends on has its Max-Forwards lowered by
// one in Synapse (Resource.process calls sendOptions, which puts
// Integer.parseInt(Max-Forwards) - 1 back into the transport headers that
// the send forwards). Caddy's placeholders cannot subtract, so the route
// sends it on as it came (a difference docs/synapse.md states).
func optionsRoute(r *route) *route {
	allow := strings.Join(slices.DeleteFunc(slices.Clone(r.methods), func(m string) bool { return m == http.MethodOptions }), ", ")
	if len(r.methods) == 0 {
		allow = allSupportedMethods
	}
	options := &route{paths: r.paths, pathRegexp: r.pathRegexp, methods: []string{http.MethodOptions}, filters: filters{protocol: r.filters.protocol},
		ways: []*way{{flow: &flow{ack: http.StatusOK, allow: &allow}}}}
	if slices.Contains(r.methods, http.MethodOptions) {
		options.header = map[string][]string{"Max-Forwards": {"0"}}
	}
	return options
}

// mismatchHandlers are the sequences Synapse's API.process runs, if the
// configuration names one so (RESTConstants), instead of answering 404 or
// 405 itself.
var mismatchHandlers = []string{"_resource_mismatch_handler_", "_method_not_allowed_handler_"}

// checkNoMismatchHandlers refuses the handlers of requests that no resource
// takes: the adapter answers those requests as Synapse does without them.
func (c *compiler) checkNoMismatchHandlers() error {
	for _, name := range mismatchHandlers {
		if seq := c.sequences[name]; seq != nil {
			return c.errorf(seq, "sequence %q, which Synapse runs for the requests under an API's context that no resource takes, is not supported", name)
		}
	}
	return nil
}

// unmatchedResourceRoutes answer the requests under an API's context that
// none of its resources takes, as Synapse's API.process does (the API
// takes every request under its context, so main never sees them), each an
// acknowledgement with no body and none of the request's headers. Synapse's
// 400 carries them back: API.process removes the message's
// TRANSPORT_HEADERS for 404 and 405 only, and the pass-through
// ServerWorker writes the acknowledgement NIO-ACK-Requested asks for with
// SourceResponseFactory.create, which puts TRANSPORT_HEADERS (the
// request's, first values) and EXCESS_TRANSPORT_HEADERS (their repeats) on
// the response. No Caddy handler copies every request header to a response
// (a list of names would copy some only), so the 400 has none, a
// difference docs/synapse.md states. Only
// when no resource takes the request (ApiUtils.getAcceptableResources is
// empty: by its method or, for a resource with filters, by those) does
// Synapse search the resources again by path alone, in the order its
// dispatchers look (resources, here), and the first whose path matches
// answers: 400 if it has the method (it has filters the request fails),
// else 405 (handleMethodNotAllowed). Otherwise, and on any other path, it
// is 404 (handleResourceNotFound). So a resource without methods or
// filters, which takes every request, leaves no 400 or 405. A sequence
// named _resource_mismatch_handler_ or _method_not_allowed_handler_ would
// answer instead: see checkNoMismatchHandlers.
func unmatchedResourceRoutes(resources []*route, ctx string) []*route {
	var routes []*route
	if taken, every := takenByAny(resources); !every {
		for _, r := range resources {
			if r.filters != (filters{}) {
				// Resource.hasMatchingMethod: OPTIONS always.
				methods := r.methods
				if len(methods) > 0 && !slices.Contains(methods, http.MethodOptions) {
					methods = append(slices.Clone(methods), http.MethodOptions)
				}
				routes = append(routes, &route{paths: r.paths, pathRegexp: r.pathRegexp, methods: methods, not: taken,
					ways: []*way{{flow: &flow{ack: http.StatusBadRequest}}}})
				if len(methods) == 0 {
					continue
				}
			}
			routes = append(routes, &route{paths: r.paths, pathRegexp: r.pathRegexp, not: taken,
				ways: []*way{{flow: &flow{ack: http.StatusMethodNotAllowed}}}})
		}
	}
	return append(routes, &route{paths: []string{ctx, ctx + "/*"},
		ways: []*way{{flow: &flow{ack: http.StatusNotFound}}}})
}
