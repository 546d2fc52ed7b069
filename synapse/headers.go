package synapse

import (
	"strings"

	"github.com/beevik/etree"
)

// header maps the header mediator: the SOAP Action (the SOAPAction the
// upstream gets), To (removing it changes nothing: the endpoint decides where
// a message goes) and transport headers.
func (b *flowBuilder) header(m *etree.Element, ph phase) error {
	name, value, remove, done, err := b.transportOr(m, ph)
	if done || err != nil {
		return err
	}
	_, local, found := strings.Cut(name, ":")
	if !found {
		local = name
	}
	switch {
	case local == "To" && remove:
		return nil
	case local == "Action" && ph == phaseIn && !b.called:
		if remove {
			b.f.reqHeaders.remove("SOAPAction")
		} else {
			b.f.reqHeaders.set("SOAPAction", value)
		}
		return nil
	case local == "Action":
		b.c.warnf(m, "the Action of a response or fault is not mapped")
		return nil
	}
	return b.c.errorf(m, "SOAP header %q is not supported (supported: Action, To with action=\"remove\", and scope=\"transport\")", name)
}

// mappedProperties are the default-scope properties that change what
// Caddy does.
var mappedProperties = map[string]bool{"RESPONSE": true, "PRESERVE_WS_ADDRESSING": true}

// property maps the property mediator where it changes what is sent:
// transport headers, PRESERVE_WS_ADDRESSING, and RESPONSE in a fault
// sequence. Other message-context properties only feed expressions, which
// are not supported, so they change nothing.
func (b *flowBuilder) property(m *etree.Element, ph phase) error {
	name, value, remove, done, err := b.transportOr(m, ph)
	if done || err != nil {
		return err
	}
	switch name {
	case "RESPONSE":
		if ph != phaseFault {
			return b.c.errorf(m, "RESPONSE outside a faultSequence is not supported: use <respond/>")
		}
	case "PRESERVE_WS_ADDRESSING":
		b.f.preserveWSA = !remove && value == "true"
	default:
		b.c.warnf(m, "property %q changes nothing in Caddy: not mapped", name)
	}
	return nil
}

// transportOr reads the name, value and action common to header and
// property, and maps scope="transport" (done); the default scope is left to
// the caller. Expressions, inline XML and other scopes are refused: they
// change the message in ways Caddy does not.
func (b *flowBuilder) transportOr(m *etree.Element, ph phase) (name, value string, remove, done bool, err error) {
	name = m.SelectAttrValue("name", "")
	if name == "" {
		return "", "", false, false, b.c.errorf(m, "needs a name")
	}
	scope := m.SelectAttrValue("scope", "default")
	if m.SelectAttr("expression") != nil {
		if m.Tag == "property" && scope == "default" && !mappedProperties[name] {
			// Such a property only feeds expressions and logs, which are
			// not mapped; conditions on it are refused.
			b.c.warnf(m, "property %q changes nothing in Caddy: not mapped", name)
			return name, "", false, true, nil
		}
		return "", "", false, false, b.c.errorf(m, "expression=%q is not supported: only value", m.SelectAttrValue("expression", ""))
	}
	if len(m.ChildElements()) > 0 {
		return "", "", false, false, b.c.errorf(m, "inline XML is not supported: only name and value")
	}
	switch action := m.SelectAttrValue("action", "set"); action {
	case "set":
		if m.SelectAttr("value") == nil {
			return "", "", false, false, b.c.errorf(m, "%q needs a value", name)
		}
	case "remove":
		remove = true
	default:
		return "", "", false, false, b.c.errorf(m, "action %q is not supported (supported: set, remove)", action)
	}
	value = m.SelectAttrValue("value", "")
	switch scope {
	case "transport":
		return name, value, remove, true, b.transportHeader(m, ph, name, value, remove)
	case "axis2":
		if m.Tag == "property" {
			return name, value, remove, true, b.axis2Property(m, ph, name, value, remove)
		}
	case "default":
		return name, value, remove, false, nil
	}
	return "", "", false, false, b.c.errorf(m, "%q in scope %q: not supported (supported scopes: default, transport, and axis2 for %s)", name, scope, supportedAxis2)
}

// transportHeader sets or removes an HTTP header: of the request before the
// call, of the response after it or in an outSequence.
func (b *flowBuilder) transportHeader(m *etree.Element, ph phase, name, value string, remove bool) error {
	ops := &b.f.respHeaders
	switch {
	case ph == phaseFault:
		return b.c.errorf(m, "transport headers of a fault are not supported")
	case ph == phaseIn && !b.called:
		ops = &b.f.reqHeaders
	}
	if remove {
		ops.remove(name)
	} else {
		ops.set(name, value)
	}
	return nil
}
