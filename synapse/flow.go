package synapse

import (
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// phase is which of a target's sequences a mediator runs in.
type phase int

const (
	phaseIn phase = iota
	phaseOut
	phaseFault
)

var phaseNames = [...]string{"inSequence", "outSequence", "faultSequence"}

// flowBuilder maps the mediators of one target or resource to a flow.
type flowBuilder struct {
	c         *compiler
	f         *flow
	name      string   // the proxy or API: names the session table
	called    bool     // a call or send has been seen: later mediators see the response
	responded bool     // a respond or send ended the sequence
	inlining  []string // the named sequences being inlined, to find cycles
}

// target maps a proxy's <target> or an API's <resource>: its in, out and
// fault sequences, given inline or by key, and the endpoint that an
// inSequence without a call sends to.
func (c *compiler) target(t *etree.Element, prefix, name string) (*flow, error) {
	b := &flowBuilder{c: c, f: &flow{prefix: prefix}, name: name}
	for _, ch := range t.ChildElements() {
		switch ch.Tag {
		case "inSequence", "outSequence", "faultSequence", "endpoint", "description":
		default:
			return nil, c.errorf(ch, "not supported in <%s> (supported: inSequence, outSequence, faultSequence, endpoint)", t.Tag)
		}
	}
	for ph, tag := range phaseNames {
		b.responded = false
		if key := t.SelectAttrValue(tag, ""); key != "" {
			if err := b.sequenceRef(t, key, phase(ph)); err != nil {
				return nil, err
			}
		}
		if seq := t.SelectElement(tag); seq != nil {
			if err := b.sequence(seq, phase(ph)); err != nil {
				return nil, err
			}
		} else if err := b.defaultFault(t, phase(ph)); err != nil {
			return nil, err
		}
		if phase(ph) == phaseIn {
			if err := b.targetEndpoint(t); err != nil {
				return nil, err
			}
		}
	}
	if b.f.call == nil && !b.f.echo {
		return nil, c.errorf(t, "the inSequence neither calls an endpoint nor responds: nothing to map")
	}
	return b.f, nil
}

// defaultFault inlines the sequence named "fault", if there is one, as the
// faultSequence of a target that has none: Synapse's
// ProxyService.registerFaultHandler and Resource.registerFaultHandler push
// the configuration's fault sequence then.
func (b *flowBuilder) defaultFault(t *etree.Element, ph phase) error {
	if ph != phaseFault || t.SelectAttr(phaseNames[ph]) != nil || b.c.sequences["fault"] == nil {
		return nil
	}
	return b.sequenceRef(t, "fault", ph)
}

// targetEndpoint is a proxy target's endpoint, attribute or element: the
// inSequence's message goes there unless the sequence already called or
// responded.
func (b *flowBuilder) targetEndpoint(t *etree.Element) error {
	ep := t.SelectElement("endpoint")
	if key := t.SelectAttrValue("endpoint", ""); key != "" {
		ep = etree.NewElement("endpoint")
		ep.CreateAttr("key", key)
		b.c.pos[ep] = b.c.pos[t]
	}
	if ep == nil || b.called || b.responded {
		return nil
	}
	return b.callEndpoint(ep)
}

// sequence maps the mediators of a sequence, in order.
func (b *flowBuilder) sequence(seq *etree.Element, ph phase) error {
	if seq.SelectAttr("onError") != nil {
		return b.c.errorf(seq, "onError is not supported: use the faultSequence of the proxy or resource")
	}
	for _, m := range seq.ChildElements() {
		if b.responded && m.Tag != "description" {
			b.c.warnf(m, "after <send> or <respond>: never runs, not mapped")
			continue
		}
		if err := b.mediator(m, ph); err != nil {
			return err
		}
	}
	return nil
}

// sequenceRef inlines the named sequence key; a sequence that reaches itself
// is an error.
func (b *flowBuilder) sequenceRef(at *etree.Element, key string, ph phase) error {
	if strings.ContainsAny(key, "{}") {
		return b.c.errorf(at, "dynamic sequence key %q is not supported: only names", key)
	}
	if slices.Contains(b.inlining, key) {
		return b.c.errorf(at, "sequence %q calls itself (%s -> %s)", key, strings.Join(b.inlining, " -> "), key)
	}
	seq, err := b.c.named(at, "sequence", key)
	if err != nil {
		return err
	}
	b.inlining = append(b.inlining, key)
	defer func() { b.inlining = b.inlining[:len(b.inlining)-1] }()
	return b.sequence(seq, ph)
}

// maxMediators bounds the mediators mapped, inlined sequences counted each
// time: sequences that each inline the next one twice would otherwise take
// time exponential in their number.
const maxMediators = 100_000

const supportedMediators = "header, property, sequence, call, send, respond, log, makefault and drop (in a faultSequence)"

func (b *flowBuilder) mediator(m *etree.Element, ph phase) error {
	if b.c.mediators++; b.c.mediators > maxMediators {
		return b.c.errorf(m, "more than %d mediators once sequences are inlined", maxMediators)
	}
	switch m.Tag {
	case "description":
		return nil // warned about by harmless
	case "header":
		return b.header(m, ph)
	case "property":
		return b.property(m, ph)
	case "sequence":
		key := m.SelectAttrValue("key", "")
		if key == "" {
			return b.c.errorf(m, "an inner sequence needs a key")
		}
		return b.sequenceRef(m, key, ph)
	case "call", "send":
		return b.send(m, ph)
	case "call-template":
		return b.callTemplate(m, ph)
	case "respond":
		if ph == phaseIn && !b.called {
			b.f.echo = true
		}
		b.responded = true
		return nil
	case "log":
		b.c.warnf(m, "not mapped: use Caddy's access logs")
		return nil
	case "makefault":
		if ph != phaseFault {
			return b.c.errorf(m, "makefault is supported in a faultSequence only, not in %s", b.where(ph))
		}
		return b.makefault(m)
	case "drop":
		if ph != phaseFault {
			return b.c.errorf(m, "drop is supported in a faultSequence only, not in %s", b.where(ph))
		}
		b.c.warnf(m, "the client still gets the fault or Caddy's error status")
		b.responded = true
		return nil
	}
	return b.c.errorf(m, "mediator not supported in %s (supported: %s)", b.where(ph), supportedMediators)
}

// send maps call and send. In an in sequence, the endpoint becomes the
// reverse_proxy; in out and fault sequences, an endpoint-less send returns the
// message to the client, which Caddy does anyway.
func (b *flowBuilder) send(m *etree.Element, ph phase) error {
	ep := m.SelectElement("endpoint")
	for _, ch := range m.ChildElements() {
		if ch != ep && ch.Tag != "description" {
			return b.c.errorf(ch, "not supported in <%s> (only an endpoint)", m.Tag)
		}
	}
	if m.SelectAttr("receive") != nil {
		return b.c.errorf(m, "receive is not supported: the response goes back to the client")
	}
	if ph != phaseIn {
		if ep != nil {
			return b.c.errorf(m, "sending to an endpoint from the %s is not supported", b.where(ph))
		}
		b.responded = m.Tag == "send"
		return nil
	}
	if b.called {
		return b.c.errorf(m, "a second call or send: one request goes to one endpoint")
	}
	if ep == nil {
		return b.c.errorf(m, "without an endpoint Synapse sends to the message's To address: not supported, give an endpoint")
	}
	b.responded = m.Tag == "send"
	return b.callEndpoint(ep)
}

// where names the sequence being mapped: the target's, or the named one
// inlined there.
func (b *flowBuilder) where(ph phase) string {
	if n := len(b.inlining); n > 0 {
		if t, ok := strings.CutPrefix(b.inlining[n-1], "template "); ok {
			return fmt.Sprintf("template %q (called in %s)", t, phaseNames[ph])
		}
		return fmt.Sprintf("sequence %q (used as %s)", b.inlining[n-1], phaseNames[ph])
	}
	return phaseNames[ph]
}

func (b *flowBuilder) callEndpoint(ep *etree.Element) error {
	cl, err := b.c.call(ep, b.name)
	if err != nil {
		return err
	}
	b.f.call, b.called = cl, true
	return nil
}
