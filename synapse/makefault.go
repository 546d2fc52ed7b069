package synapse

import (
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
	"github.com/soap-affinity/caddy-soap-affinity/soapfault"
)

// makefault maps the makefault mediator to a soap_fault handler, checked here
// with the soapfault package so that a bad fault is reported at its line.
func (b *flowBuilder) makefault(m *etree.Element) error {
	if b.f.fault != nil {
		return b.c.errorf(m, "a second makefault")
	}
	// Without a version, Synapse's FaultMediator answers in the request's:
	// POX to a POX or REST request, else the envelope's SOAP version. That is
	// soap_fault's auto, which also takes a code of either SOAP version.
	f := &fault{version: m.SelectAttrValue("version", "auto")}
	version, err := soapfault.ParseVersion(f.version)
	if err != nil || (version == soapfault.VersionAuto && m.SelectAttr("version") != nil) {
		return b.c.errorf(m, "version %q is not supported (supported: soap11, soap12, pox, or none to answer in the request's)", f.version)
	}
	for _, ch := range m.ChildElements() {
		if ch.SelectAttr("expression") != nil {
			return b.c.errorf(ch, "expression=%q is not supported: only values", ch.SelectAttrValue("expression", ""))
		}
		switch ch.Tag {
		case "code":
			f.code = ch.SelectAttrValue("value", "")
			b.checkCodeNamespace(ch, f.code, version)
		case "reason":
			f.reason = ch.SelectAttrValue("value", "")
		case "role":
			f.role = strings.TrimSpace(ch.Text())
		case "node":
			f.node = strings.TrimSpace(ch.Text())
		case "detail":
			f.detail = innerXML(ch)
		case "description":
		default:
			return b.c.errorf(ch, "not supported in makefault (supported: code, reason, role, node, detail)")
		}
	}
	sf := soapfault.Fault{Version: version, Reason: f.reason, Role: f.role, Node: f.node, Detail: f.detail}
	if f.code != "" {
		if sf.Code, err = soapfault.ParseCode(f.code); err != nil {
			return b.c.errorf(m, "%v", err)
		}
	}
	if sf.Reason == "" {
		sf.Reason = soapfault.DefaultReason
	}
	if _, err := soapfault.Compile(sf); err != nil {
		return b.c.errorf(m, "%v", err)
	}
	b.f.fault = f
	return nil
}

// checkCodeNamespace warns when the code's prefix is bound to another
// namespace than the fault's envelope: the soap_fault handler binds it to the
// envelope namespace, as Synapse's makefault writes it.
func (b *flowBuilder) checkCodeNamespace(code *etree.Element, value string, v soapfault.Version) {
	prefix, _, found := strings.Cut(value, ":")
	if !found || v == soapfault.VersionPOX {
		return
	}
	var want []string // the namespaces the fault may bind the prefix to
	switch v {
	case soapfault.VersionSOAP11:
		want = []string{soap.Namespace11}
	case soapfault.VersionSOAP12:
		want = []string{soap.Namespace12}
	default: // auto: the envelope's, whichever the request's is
		want = []string{soap.Namespace11, soap.Namespace12}
	}
	if uri, ok := namespacesInScope(code)[prefix]; ok && !slices.Contains(want, uri) {
		b.c.warnf(code, "prefix %q is bound to %q: the fault binds it to %s", prefix, uri, quoteJoin(want, " or "))
	}
}

func quoteJoin(ss []string, sep string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, sep)
}

// innerXML is the content of e as written: its text, or its child elements
// serialized, each with the namespace declarations in scope that it lacks.
func innerXML(e *etree.Element) string {
	if len(e.ChildElements()) == 0 {
		return strings.TrimSpace(e.Text())
	}
	doc := etree.NewDocument()
	for _, ch := range e.ChildElements() {
		cp := ch.Copy()
		for anc := e; anc != nil; anc = anc.Parent() {
			for _, a := range anc.Attr {
				if a.Space == "xmlns" && cp.SelectAttr("xmlns:"+a.Key) == nil {
					cp.CreateAttr("xmlns:"+a.Key, a.Value)
				}
			}
		}
		doc.AddChild(cp)
	}
	s, _ := doc.WriteToString()
	return strings.TrimSpace(s)
}
