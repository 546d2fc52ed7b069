package synapse

import (
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/beevik/etree"
)

// proxy maps a proxy service: its target, served at /services/NAME and
// below, on the transports it names.
func (c *compiler) proxy(p *etree.Element) (*service, error) {
	name := p.SelectAttrValue("name", "")
	if name == "" || strings.ContainsAny(name, "/*?#{} ") {
		return nil, c.errorf(p, "name %q is not a proxy service name", name)
	}
	if p.SelectAttrValue("startOnLoad", "true") == "false" {
		c.warnf(p, "startOnLoad=\"false\": not mapped")
		return nil, nil
	}
	s := &service{name: name}
	// Synapse splits the list on spaces and commas; "all", the whole value,
	// leaves the list unset: every transport of the server
	// (ProxyServiceFactory), here both of ours.
	list := p.SelectAttrValue("transports", "all")
	if list == "all" {
		list = "http https"
	}
	transports := strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	})
	var outside []string
	for _, t := range transports {
		switch t {
		case "http":
			s.http = true
		case "https":
			s.https = true
		default:
			outside = append(outside, t)
		}
	}
	switch {
	case len(transports) == 0:
		return nil, c.errorf(p, "transports %q names no transport", list)
	case !s.http && !s.https:
		return nil, c.errorf(p, "transport %q is not supported (supported: http, https)", outside[0])
	}
	// Synapse exposes the proxy on each transport of the list
	// (ProxyService.buildAxisService): the HTTP and HTTPS part is served
	// here, the others stay where they are.
	for _, t := range outside {
		c.warnf(p, "transport %q is not mapped: %s", t, hintOutside)
	}
	var target *etree.Element
	for _, ch := range p.ChildElements() {
		switch ch.Tag {
		case "target":
			target = ch
		case "description":
		case "publishWSDL", "parameter":
			c.warnf(ch, "not mapped: Caddy does not serve WSDLs or read Axis2 service parameters")
		default:
			return nil, c.errorf(ch, "not supported in a proxy (supported: target, description, publishWSDL, parameter)")
		}
	}
	if target == nil {
		return nil, c.errorf(p, "no target")
	}
	prefix := "/services/" + name
	c.serving, c.methods, c.vars = "proxy", nil, nil
	ways, err := c.target(target, prefix, name)
	if err != nil {
		return nil, err
	}
	s.routes = []*route{{paths: []string{prefix, prefix + "/*"}, ways: ways}}
	return s, nil
}

// api maps an API, on both transports as MI serves APIs: each resource is a
// route under the API's context, after one answering its OPTIONS (see
// optionsRoute), in the order Synapse's dispatchers look for a resource (see
// inDispatchOrder); then the routes that answer what no resource takes (see
// unmatchedResourceRoutes).
func (c *compiler) api(a *etree.Element) (*service, error) {
	name := a.SelectAttrValue("name", "")
	if name == "" {
		return nil, c.errorf(a, "an API needs a name")
	}
	ctx, err := c.apiContext(a)
	if err != nil {
		return nil, err
	}
	for _, attr := range []string{"hostname", "port"} {
		if a.SelectAttr(attr) != nil {
			return nil, c.errorf(a, "%s is not supported: the API is served on the adapter's ports, any host", attr)
		}
	}
	s := &service{name: name, api: true, context: ctx, http: true, https: true}
	var resources []resourceRoute
	for _, r := range a.ChildElements() {
		switch r.Tag {
		case "resource":
		case "description":
			continue
		default:
			return nil, c.errorf(r, "not supported in an API (supported: resource, description)")
		}
		rt := &route{}
		if rt.methods, err = c.resourceMethods(r); err != nil {
			return nil, err
		}
		if rt.filters, err = c.resourceFilters(r); err != nil {
			return nil, err
		}
		c.serving, c.methods, c.vars = "api", rt.methods, nil
		d, err := c.resourcePath(r, ctx, rt)
		if err != nil {
			return nil, err
		}
		if rt.ways, err = c.target(r, ctx, name); err != nil {
			return nil, err
		}
		resources = append(resources, resourceRoute{rt, d})
	}
	if len(resources) == 0 {
		return nil, c.errorf(a, "an API needs a resource")
	}
	if err := c.checkNoMismatchHandlers(); err != nil {
		return nil, err
	}
	for _, rt := range inDispatchOrder(resources, true) {
		s.routes = append(s.routes, optionsRoute(rt), rt)
	}
	s.routes = append(s.routes, unmatchedResourceRoutes(inDispatchOrder(resources, false), ctx)...)
	return s, nil
}

// apiContext is the API's context with its version, if any.
func (c *compiler) apiContext(a *etree.Element) (string, error) {
	ctx := strings.TrimSuffix(a.SelectAttrValue("context", ""), "/")
	if !strings.HasPrefix(ctx, "/") || strings.ContainsAny(ctx, "*?#") {
		return "", c.errorf(a, "context %q is not a path", a.SelectAttrValue("context", ""))
	}
	version := a.SelectAttrValue("version", "")
	if version == "" {
		return ctx, checkNoPlaceholder(c, a, ctx)
	}
	// Synapse's VersionStrategyFactory refuses a version without its type.
	if a.SelectAttrValue("version-type", "") == "" {
		return "", c.errorf(a, "version %q without version-type: Synapse refuses the API (give version-type=\"url\" or \"context\")", version)
	}
	switch vt := a.SelectAttrValue("version-type", ""); vt {
	case "url":
		ctx += "/" + version
	case "context":
		// As MI's ContextVersionStrategy: {version}, wherever it is, becomes
		// the version; a context without it stays as it is.
		ctx = strings.ReplaceAll(ctx, "{version}", version)
	default:
		return "", c.errorf(a, "version-type %q is not supported (supported: context, url)", vt)
	}
	return ctx, checkNoPlaceholder(c, a, ctx)
}

// checkNoPlaceholder refuses braces in a path: Caddy would read them as
// placeholders.
func checkNoPlaceholder(c *compiler, e *etree.Element, path string) error {
	if strings.ContainsAny(path, "{}") {
		return c.errorf(e, "%q: variables are not supported here", path)
	}
	return nil
}

var (
	templateVar = regexp.MustCompile(`\{[^{}/]*\}`)
	groupName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// resourcePath maps a resource's uri-template or url-mapping to a path
// matcher under the API's context.
func (c *compiler) resourcePath(r *etree.Element, ctx string, rt *route) (dispatch, error) {
	tmpl, hasTmpl := r.SelectAttrValue("uri-template", ""), r.SelectAttr("uri-template") != nil
	mapping, hasMapping := r.SelectAttrValue("url-mapping", ""), r.SelectAttr("url-mapping") != nil
	switch {
	case hasTmpl && hasMapping:
		return dispatch{}, c.errorf(r, "both uri-template and url-mapping")
	case hasTmpl:
		path, _, _ := strings.Cut(tmpl, "?") // the query part binds variables only
		if !strings.HasPrefix(path, "/") || strings.Contains(path, "*") {
			return dispatch{}, c.errorf(r, "uri-template %q is not a path template", tmpl)
		}
		if !templateVar.MatchString(path) {
			rt.paths = []string{ctx + path}
			return dispatch{kind: dispatchTemplate}, nil
		}
		if strings.ContainsAny(templateVar.ReplaceAllString(path, ""), "{}") {
			return dispatch{}, c.errorf(r, "uri-template %q is not a path template", tmpl)
		}
		var re strings.Builder
		re.WriteString("^" + regexp.QuoteMeta(ctx))
		prev := 0
		for _, loc := range templateVar.FindAllStringIndex(path, -1) {
			re.WriteString(regexp.QuoteMeta(path[prev:loc[0]]))
			// A variable an http endpoint can use ({uri.var.NAME}) is a
			// named group: Caddy's placeholder {http.regexp.NAME}.
			if name := path[loc[0]+1 : loc[1]-1]; groupName.MatchString(name) && !slices.Contains(c.vars, name) {
				c.vars = append(c.vars, name)
				re.WriteString("(?P<" + name + ">[^/]+)")
			} else {
				re.WriteString("[^/]+")
			}
			prev = loc[1]
		}
		re.WriteString(regexp.QuoteMeta(path[prev:]) + "$")
		rt.pathRegexp = re.String()
		return dispatch{kind: dispatchTemplate}, nil
	case hasMapping:
		if err := checkNoPlaceholder(c, r, mapping); err != nil {
			return dispatch{}, err
		}
		// As URLMappingHelper reads a mapping: /path/* (or /*) by its
		// segments, *.ext by the sub-path's ending, anything else as the
		// sub-path exactly (one trailing slash of the mapping dropped,
		// every one of the request's).
		switch {
		case mapping == "/*":
			rt.paths = []string{ctx, ctx + "/*"}
			return dispatch{kind: dispatchPrefix, prefix: 1}, nil // as long as one segment's
		case strings.HasPrefix(mapping, "*."):
			rt.pathRegexp = "^" + regexp.QuoteMeta(ctx) + "/.*" + regexp.QuoteMeta(mapping[1:]) + "$"
			return dispatch{kind: dispatchExtension}, nil
		case strings.HasSuffix(mapping, "/*") && !strings.Contains(strings.TrimSuffix(mapping, "/*"), "*"):
			rt.paths = []string{strings.TrimSuffix(ctx+mapping, "/*"), ctx + mapping}
			return dispatch{kind: dispatchPrefix, prefix: strings.Count(mapping, "/") - 1}, nil
		case mapping == "/":
			rt.pathRegexp = "^" + regexp.QuoteMeta(ctx) + "/*$"
			return dispatch{kind: dispatchExact}, nil
		case strings.HasPrefix(mapping, "/") && !strings.Contains(mapping, "*"):
			rt.pathRegexp = "^" + regexp.QuoteMeta(ctx+strings.TrimSuffix(mapping, "/")) + "/*$"
			return dispatch{kind: dispatchExact}, nil
		default:
			return dispatch{}, c.errorf(r, "url-mapping %q is not supported (supported: /path, /path/*, *.ext)", mapping)
		}
	default:
		rt.paths = []string{ctx, ctx + "/*"}
		return dispatch{kind: dispatchDefault}, nil
	}
}
