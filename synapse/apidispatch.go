package synapse

import (
	"cmp"
	"net/http"
	"slices"
)

// The order in which Synapse's API.process looks for the resource of a
// request, which the resources' routes are put in: the dispatchers of
// ApiUtils.getDispatchers in turn, each over the resources that take the
// request's method, those that take OPTIONS only first
// (ApiUtils.getAcceptableResources), else in the order written.
const (
	dispatchExact     = iota // URLMappingBasedDispatcher: an exact url-mapping,
	dispatchPrefix           // then the longest /path/* (by segments; /* as one),
	dispatchExtension        // then a *.ext;
	dispatchTemplate         // URITemplateBasedDispatcher: a uri-template;
	dispatchDefault          // DefaultDispatcher: neither.
)

// dispatch is where a resource stands in that order.
type dispatch struct {
	kind   int
	prefix int // with dispatchPrefix: the mapping's segments
}

// resourceRoute is a resource's route and where Synapse looks for it.
type resourceRoute struct {
	route    *route
	dispatch dispatch
}

// inDispatchOrder sorts the resources' routes as Synapse looks for them.
// Caddy takes the first route whose path and method match, which is then
// the resource Synapse finds: of those that take the method, the first its
// dispatchers reach. Among the resources that take the request, those
// taking OPTIONS only come first (optionsFirst); the search by path alone
// of a request that none takes goes over the resources as written.
func inDispatchOrder(resources []resourceRoute, optionsFirst bool) []*route {
	resources = slices.Clone(resources)
	slices.SortStableFunc(resources, func(a, b resourceRoute) int {
		c := cmp.Or(cmp.Compare(a.dispatch.kind, b.dispatch.kind), cmp.Compare(b.dispatch.prefix, a.dispatch.prefix))
		if c != 0 || !optionsFirst {
			return c
		}
		return cmp.Compare(cond(optionsOnly(a.route), 0, 1), cond(optionsOnly(b.route), 0, 1))
	})
	routes := make([]*route, len(resources))
	for i, r := range resources {
		routes[i] = r.route
	}
	return routes
}

func optionsOnly(r *route) bool {
	return slices.Equal(r.methods, []string{http.MethodOptions})
}
