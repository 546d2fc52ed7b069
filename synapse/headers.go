package synapse

import (
	"strings"

	"github.com/beevik/etree"
)

// header maps the header mediator: the SOAP Action (the SOAPAction the
// upstream gets), To (removing it changes nothing: the endpoint decides where
// a message goes) and transport headers.
func (b *flowBuilder) header(m *etree.Element, ph phase) error {
	name, value, remove, err := b.valueOf(m)
	if err != nil {
		return err
	}
	if len(m.ChildElements()) > 0 {
		return b.c.errorf(m, "inline XML header blocks are not supported: only name and value")
	}
	switch scope := m.SelectAttrValue("scope", "default"); scope {
	case "transport":
		return b.transportHeader(m, ph, name, value, remove)
	case "default":
	default:
		return b.c.errorf(m, "scope %q is not supported (supported: default, transport)", scope)
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

// property maps the property mediator where it changes what is sent:
// transport headers, PRESERVE_WS_ADDRESSING, and RESPONSE in a fault
// sequence. Other message-context properties only feed expressions, which
// are not supported, so they change nothing.
func (b *flowBuilder) property(m *etree.Element, ph phase) error {
	name, value, remove, err := b.valueOf(m)
	if err != nil {
		return err
	}
	if len(m.ChildElements()) > 0 {
		return b.c.errorf(m, "inline XML property values are not supported: only value")
	}
	switch scope := m.SelectAttrValue("scope", "default"); scope {
	case "transport":
		return b.transportHeader(m, ph, name, value, remove)
	case "default":
	default:
		return b.c.errorf(m, "property %q in scope %q changes how Synapse sends the message: not supported (supported scopes: default, transport)", name, scope)
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

// valueOf reads the name, value and action common to header and property;
// expressions are refused.
func (b *flowBuilder) valueOf(m *etree.Element) (name, value string, remove bool, err error) {
	name = m.SelectAttrValue("name", "")
	if name == "" {
		return "", "", false, b.c.errorf(m, "needs a name")
	}
	if m.SelectAttr("expression") != nil {
		return "", "", false, b.c.errorf(m, "expression=%q is not supported: only value", m.SelectAttrValue("expression", ""))
	}
	switch action := m.SelectAttrValue("action", "set"); action {
	case "set":
		if m.SelectAttr("value") == nil && len(m.ChildElements()) == 0 {
			return "", "", false, b.c.errorf(m, "%q needs a value", name)
		}
	case "remove":
		remove = true
	default:
		return "", "", false, b.c.errorf(m, "action %q is not supported (supported: set, remove)", action)
	}
	return name, m.SelectAttrValue("value", ""), remove, nil
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
