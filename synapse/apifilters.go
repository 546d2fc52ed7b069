package synapse

import (
	"maps"
	"net/http"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// The filters besides its methods on which Synapse's Resource.canProcess
// takes a request or leaves it: a resource's protocol, content-type and
// user-agent.

// filters are a resource's; the zero value takes every request.
type filters struct {
	protocol    string // "http" or "https" (Caddy's protocol matcher); "": both
	contentType string // the Content-Type exactly, of a request with a body
	userAgent   string // an anchored RE2 pattern the User-Agent must match
}

func (f filters) onHeaders() bool { return f.contentType != "" || f.userAgent != "" }

// payloadMethods are those whose requests Synapse reads as carrying a body:
// MI's HTTP listener makes them entity-enclosing requests by their method
// alone (SynapseHTTPRequestFactory: POST, PUT, PATCH, and DELETE, which may
// carry one), and sets NO_ENTITY_BODY on the others, whose content-type
// Resource.canProcess then does not check.
var payloadMethods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// resourceFilters reads a resource's filters as ResourceFactory does: an
// empty attribute is none.
func (c *compiler) resourceFilters(r *etree.Element) (filters, error) {
	var f filters
	switch p := r.SelectAttrValue("protocol", ""); p {
	case "", "http", "https":
		f.protocol = p
	default:
		return f, c.errorf(r, "protocol %q is not a protocol (Synapse refuses the resource: give http or https)", p)
	}
	f.contentType = r.SelectAttrValue("content-type", "")
	if ua := r.SelectAttrValue("user-agent", ""); ua != "" {
		why := javaOnlyClass(ua)
		if _, err := syntax.Parse(ua, syntax.Perl); err != nil {
			why = err.Error()
		}
		if why != "" {
			return f, c.errorf(r, "user-agent %q is a Java regular expression that Caddy's RE2 cannot match alike: %s", ua, why)
		}
		f.userAgent = "^(?:" + ua + ")$" // String.matches: the whole User-Agent
	}
	return f, nil
}

// javaOnlyClass says what in the character classes of a Java regular
// expression RE2 compiles but reads otherwise: a class nested in a class
// (Java's union; RE2 takes the "[" as a character, and "[:alpha:]" as a
// POSIX class) and "&&" (Java's intersection; RE2 takes the characters);
// "" when there is neither.
func javaOnlyClass(re string) string {
	inClass := false
	for i := 0; i < len(re); i++ {
		switch {
		case strings.HasPrefix(re[i:], `\Q`): // quoted up to \E
			end := strings.Index(re[i+2:], `\E`)
			if end < 0 {
				return ""
			}
			i += 2 + end + 1
		case re[i] == '\\':
			i++
		case inClass && re[i] == '[':
			return "a character class nested in one (Java's union), which RE2 reads as a \"[\" or a POSIX class"
		case inClass && strings.HasPrefix(re[i:], "&&"):
			return "Java's class intersection (&&), which RE2 reads as characters"
		case inClass && re[i] == ']':
			inClass = false
		case !inClass && re[i] == '[':
			inClass = true
			// A "]" or "^]" right after the "[" is a character of the class.
			if strings.HasPrefix(re[i+1:], "^") {
				i++
			}
			if strings.HasPrefix(re[i+1:], "]") {
				i++
			}
		}
	}
	return ""
}

// accepts are the requests, path apart, that a resource with these methods
// and filters takes, as Resource.canProcess decides, each a Caddy matcher
// set: the protocol first, then OPTIONS whatever the headers, then the
// methods, with the content-type only on those with a body, and the
// user-agent. OPTIONS on a resource that does not list it is left to its
// optionsRoute.
func (f filters) accepts(methods []string) []requestMatch {
	if !f.onHeaders() {
		return []requestMatch{{methods: methods, protocol: f.protocol}}
	}
	var sets []requestMatch
	rest := slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return m == http.MethodOptions })
	if len(rest) < len(methods) {
		sets = append(sets, requestMatch{methods: []string{http.MethodOptions}, protocol: f.protocol})
		if len(rest) == 0 {
			return sets
		}
	}
	agent := map[string]string{}
	if f.userAgent != "" {
		agent["User-Agent"] = f.userAgent
	}
	if f.contentType == "" {
		return append(sets, requestMatch{methods: rest, protocol: f.protocol, headers: agent})
	}
	typed := maps.Clone(agent)
	typed["Content-Type"] = "^" + regexp.QuoteMeta(f.contentType) + "$"
	if len(rest) == 0 { // any method
		return append(sets,
			requestMatch{methods: payloadMethods, protocol: f.protocol, headers: typed},
			requestMatch{notMethods: payloadMethods, protocol: f.protocol, headers: agent})
	}
	withBody := slices.DeleteFunc(slices.Clone(rest), func(m string) bool { return !slices.Contains(payloadMethods, m) })
	without := slices.DeleteFunc(rest, func(m string) bool { return slices.Contains(payloadMethods, m) })
	if len(withBody) > 0 {
		sets = append(sets, requestMatch{methods: withBody, protocol: f.protocol, headers: typed})
	}
	if len(without) > 0 {
		sets = append(sets, requestMatch{methods: without, protocol: f.protocol, headers: agent})
	}
	return sets
}

// takenByAny are the requests, path apart, that some resource of the API
// takes (ApiUtils.getAcceptableResources finds one): a request that meets
// none of them falls to Synapse's search by path alone. The sets on methods
// alone are merged into one, OPTIONS first; every is set when a resource
// takes every request, which then leaves no such search.
func takenByAny(resources []*route) (taken []requestMatch, every bool) {
	methodsOnly := []string{}
	var others []requestMatch
	add := func(m requestMatch) {
		if m.protocol != "" || len(m.headers) > 0 || len(m.notMethods) > 0 {
			others = append(others, m)
			return
		}
		if len(m.methods) == 0 {
			every = true
		}
		for _, name := range m.methods {
			if !slices.Contains(methodsOnly, name) {
				methodsOnly = append(methodsOnly, name)
			}
		}
	}
	for _, r := range resources {
		// Resource.canProcess takes OPTIONS on the resource's protocol always.
		add(requestMatch{methods: []string{http.MethodOptions}, protocol: r.filters.protocol})
		for _, m := range r.filters.accepts(r.methods) {
			add(m)
		}
	}
	if every {
		return nil, true
	}
	if len(methodsOnly) > 0 {
		taken = append(taken, requestMatch{methods: methodsOnly})
	}
	return append(taken, others...), false
}
