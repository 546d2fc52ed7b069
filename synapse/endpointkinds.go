package synapse

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// The endpoints that are an address in other words: http endpoints
// (uri-template and method), wsdl endpoints (the address of a WSDL's port),
// and the format an address forces.

const (
	nsWSDL11    = "http://schemas.xmlsoap.org/wsdl/"
	nsWSDLSOAP  = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsWSDLSOA12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsWSDL20    = "http://www.w3.org/ns/wsdl"
)

// isLeaf says whether an endpoint body is one upstream: an address, an
// http endpoint, or the address a wsdl endpoint stands for.
func isLeaf(body *etree.Element) bool {
	return body.Tag == "address" || body.Tag == "http" || body.Tag == "wsdl"
}

var (
	uriVariable = regexp.MustCompile(`\{[^{}]*\}`)
	uriVar      = regexp.MustCompile(`^\{uri\.var\.([^{}]*)\}$`)
)

// uriVarMark stands for a variable while the URI is parsed; letters only,
// so that parsing and escaping keep it as it is.
const uriVarMark = "zzcaddysynapseurivarzz"

// httpURI is the uri-template of an http endpoint, with each variable
// replaced by a mark; vars are the Caddy placeholders the marks stand for,
// in order. Synapse fills {uri.var.NAME} per message; what the adapter
// expresses is NAME as a variable of the path of the API resource being
// mapped: the placeholder of its group in the route's path_regexp (the
// segment as the request has it, escaped again as the path or query
// needs). Any other variable is refused by name.
func (c *compiler) httpURI(h *etree.Element) (uri string, vars []string, err error) {
	raw := h.SelectAttrValue("uri-template", "")
	if strings.HasPrefix(raw, "legacy-encoding:") {
		return "", nil, c.errorf(h, "uri-template %q: legacy-encoding is not supported", raw)
	}
	var bad string
	uri = uriVariable.ReplaceAllStringFunc(raw, func(v string) string {
		m := uriVar.FindStringSubmatch(v)
		if m == nil || !slices.Contains(c.vars, m[1]) {
			bad = cmpOr(bad, v)
			return v
		}
		vars = append(vars, "{http.regexp."+m[1]+"}")
		return uriVarMark
	})
	if bad != "" {
		return "", nil, c.errorf(h, "uri-template %q: variable %s is filled per message: supported only as {uri.var.NAME}, NAME a variable of the path of the API resource's uri-template", raw, bad)
	}
	if vars != nil && h.SelectAttr("method") == nil {
		// Without a method Synapse appends the request's sub-path to the
		// expanded template.
		return "", nil, c.errorf(h, "uri-template %q: variables are supported with a method only", raw)
	}
	return uri, vars, nil
}

// fillVars puts the placeholders back where httpURI marked the variables.
func fillVars(s string, vars []string) string {
	for _, v := range vars {
		s = strings.Replace(s, uriVarMark, v, 1)
	}
	return s
}

// httpMethod is the method an http endpoint sends with ("" for the
// request's), as HTTPEndpointFactory reads it: any case; an unknown one is
// ignored.
func (c *compiler) httpMethod(h *etree.Element) string {
	m := h.SelectAttr("method")
	if m == nil {
		return ""
	}
	up := strings.ToUpper(m.Value)
	if !slices.Contains(methods, up) {
		c.warnf(h, "method %q is not an HTTP method Synapse knows: ignored, the request's method is kept, as in Synapse", m.Value)
		return ""
	}
	return up
}

// wsdlAddress is the address that a wsdl endpoint stands for: the
// soap:address or soap12:address of its port, in the WSDL 1.1 inline or in
// a local file, with the SOAP version as its format (WSDLEndpointFactory,
// WSDL11EndpointBuilder). Its other children (timeout, suspension, ...) are
// the address's. It keeps the wsdl's tag and position, which messages name.
func (c *compiler) wsdlAddress(w *etree.Element) (*etree.Element, error) {
	service, port := w.SelectAttrValue("service", ""), w.SelectAttrValue("port", "")
	if service == "" || port == "" {
		return nil, c.errorf(w, "a wsdl endpoint needs a service and a port")
	}
	var doc *etree.Element
	addr := etree.NewElement("wsdl")
	c.pos[addr] = c.pos[w]
	for _, ch := range w.ChildElements() {
		switch {
		case ch.Tag == "definitions" && ch.NamespaceURI() == nsWSDL11:
			doc = ch
		case ch.Tag == "description" && ch.NamespaceURI() == nsWSDL20:
			return nil, c.errorf(ch, "WSDL 2.0 is not supported, as in Synapse")
		default:
			addr.AddChild(c.copyElement(ch))
		}
	}
	if uri := w.SelectAttr("uri"); uri != nil {
		name, err := c.localFile(w, uri.Value)
		if err != nil {
			return nil, err
		}
		if doc, err = c.loadResource(w, name, "wsdl "+uri.Value); err != nil {
			return nil, err
		}
	}
	if doc == nil || doc.Tag != "definitions" || doc.NamespaceURI() != nsWSDL11 {
		return nil, c.errorf(w, "no WSDL 1.1 definitions, inline or in a local file (uri)")
	}
	for _, s := range doc.SelectElements("service") {
		if s.SelectAttrValue("name", "") != service {
			continue
		}
		for _, p := range s.SelectElements("port") {
			if p.SelectAttrValue("name", "") != port {
				continue
			}
			for _, a := range p.SelectElements("address") {
				format := map[string]string{nsWSDLSOAP: "soap11", nsWSDLSOA12: "soap12"}[a.NamespaceURI()]
				if format == "" {
					continue
				}
				addr.CreateAttr("uri", a.SelectAttrValue("location", ""))
				addr.CreateAttr("format", format)
				return addr, nil
			}
			return nil, c.errorf(p, "port %q has no soap:address or soap12:address", port)
		}
	}
	return nil, c.errorf(w, "the WSDL has no service %q with a port %q", service, port)
}

// format checks an endpoint's format, which Synapse converts the message
// to. The adapter sends the message as it came, which is the same when the
// message already has that format: SOAP 1.1 or 1.2 for a proxy service
// (SOAP clients; a warning, since a client of the other version is not
// converted), POX or REST for an API, GET for an API resource that takes GET
// only. The others rewrite the message and are refused.
func (c *compiler) format(addr *etree.Element) error {
	f := addr.SelectAttrValue("format", "leave-as-is")
	noop := false
	switch f {
	case "leave-as-is":
		return nil
	case "soap11", "soap12":
		noop = c.serving == "proxy"
	case "pox", "rest":
		noop = c.serving == "api"
	case "get":
		noop = c.serving == "api" && len(c.methods) > 0 && !slices.ContainsFunc(c.methods, func(m string) bool { return m != "GET" })
	default:
		return c.errorf(addr, "format %q is not one Synapse knows (soap11, soap12, pox, rest, get, leave-as-is)", f)
	}
	if !noop {
		return c.errorf(addr, "format=%q on %s: Synapse rewrites the message into that format, which Caddy does not: keep the conversion in the service, or in a handler in front", f, cond(c.serving == "proxy", "a proxy service (SOAP requests)", "an API resource"))
	}
	if f != "get" {
		what := cond(addr.Tag == "wsdl", "the port's SOAP version ("+f+")", "format="+strconv.Quote(f))
		c.warnf(addr, "%s: the message is sent as it came, which is %s only if the client sends it so (Synapse would convert a message of another format)", what, f)
	}
	return nil
}
