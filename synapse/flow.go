package synapse

import (
	"fmt"
	"net/http"
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

// flowBuilder maps the mediators of one target or resource to a flow. A
// filter or switch forks it: each branch goes on with its own copy, so
// that every way through the mediators ends as one flow.
type flowBuilder struct {
	c         *compiler
	f         *flow
	name      string     // the proxy or API: names the session table
	when      []matchSet // the conditions of the branches taken so far
	called    bool       // a call or send has been seen: later mediators see the response
	responded bool       // a respond, send or drop ended the sequence
	frames    []frame    // the mediators left to map, innermost sequence last
}

// frame is what is left of one sequence being mapped.
type frame struct {
	items   []*etree.Element
	ph      phase
	named   string // the named sequence the items are from; "" for an inline one
	onError string // the sequence's onError: where its errors go
}

// fork is a copy of b that maps on independently.
func (b *flowBuilder) fork() *flowBuilder {
	nb := *b
	f := *b.f
	f.reqHeaders, f.respHeaders = b.f.reqHeaders.clone(), b.f.respHeaders.clone()
	nb.f = &f
	nb.when = slices.Clone(b.when)
	nb.frames = slices.Clone(b.frames)
	return &nb
}

// target maps a proxy's <target> or an API's <resource>: its in, out and
// fault sequences, given inline or by key, and the endpoint that an
// inSequence without a call sends to. A filter or switch in the inSequence
// gives one way per branch.
func (c *compiler) target(t *etree.Element, prefix, name string) ([]*way, error) {
	for _, ch := range t.ChildElements() {
		switch ch.Tag {
		case "inSequence", "outSequence", "faultSequence", "endpoint", "description":
		default:
			return nil, c.errorf(ch, "not supported in <%s> (supported: inSequence, outSequence, faultSequence, endpoint)", t.Tag)
		}
	}
	b := &flowBuilder{c: c, f: &flow{prefix: prefix}, name: name}
	if err := b.pushTargetSequence(t, phaseIn); err != nil {
		return nil, err
	}
	builders, err := b.run()
	if err != nil {
		return nil, err
	}
	ways := make([]*way, 0, len(builders))
	for _, w := range builders {
		if err := w.targetEndpoint(t); err != nil {
			return nil, err
		}
		for _, ph := range []phase{phaseOut, phaseFault} {
			w.responded = false
			switch {
			case ph == phaseOut && w.f.receive != "":
				err = w.sequenceRef(t, w.f.receive, ph)
			case ph == phaseFault && w.f.errorHandler != "":
				// Synapse's SequenceMediator puts the sequence's onError on
				// the fault handler stack above the target's faultSequence:
				// an error of the call goes there.
				err = w.sequenceRef(t, w.f.errorHandler, ph)
			default:
				err = w.pushTargetSequence(t, ph)
				if err == nil {
					err = w.defaultFault(t, ph)
				}
			}
			if err == nil {
				err = w.runToEnd()
			}
			if err != nil {
				return nil, err
			}
		}
		if err := w.answers(t); err != nil {
			return nil, err
		}
		ways = append(ways, &way{when: w.when, flow: w.f})
	}
	return withRefusal(ways), nil
}

// withRefusal ends ways with one for the requests that none takes: only a
// messageType leaves some, which Synapse would convert to it.
func withRefusal(ways []*way) []*way {
	last := ways[len(ways)-1]
	if last.when == nil {
		return ways
	}
	r := &refusal{status: http.StatusUnsupportedMediaType, reason: "no branch of the flow takes the request"}
	if t := last.flow.messageType; t != "" {
		r.reason = "the request is not of messageType " + t + ", which Synapse would convert it to: Caddy does not convert messages"
	}
	return append(ways, &way{flow: &flow{refusal: r}})
}

// answers checks that the way ends with something Caddy sends the client.
func (b *flowBuilder) answers(at *etree.Element) error {
	if b.f.call == nil && !b.f.echo && b.f.ack == 0 && !b.f.sendTo {
		what := "the inSequence"
		if len(b.when) > 0 {
			what = "a branch of the inSequence"
		}
		return b.c.errorf(at, "%s neither calls an endpoint nor responds: nothing to map", what)
	}
	return nil
}

// pushTargetSequence schedules a target's sequence of phase ph: the one
// named by its attribute first, then the inline one.
func (b *flowBuilder) pushTargetSequence(t *etree.Element, ph phase) error {
	tag := phaseNames[ph]
	if seq := t.SelectElement(tag); seq != nil {
		b.push(seq, ph, "")
	}
	if key := t.SelectAttrValue(tag, ""); key != "" {
		return b.sequenceRef(t, key, ph)
	}
	return nil
}

// defaultFault inlines the sequence named "fault", if there is one, as the
// faultSequence of a target that has none: Synapse's
// ProxyService.registerFaultHandler and Resource.registerFaultHandler push
// the configuration's fault sequence then.
func (b *flowBuilder) defaultFault(t *etree.Element, ph phase) error {
	if ph != phaseFault || t.SelectAttr(phaseNames[ph]) != nil || t.SelectElement(phaseNames[ph]) != nil || b.c.sequences["fault"] == nil {
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

// push schedules the mediators of seq, to be mapped before what is left of
// the sequences that hold it.
func (b *flowBuilder) push(seq *etree.Element, ph phase, named string) {
	onError := seq.SelectAttrValue("onError", "")
	if onError != "" && ph != phaseIn {
		b.c.warnf(seq, "onError=%q of a sequence used as %s: not mapped (only the errors of a call are)", onError, phaseNames[ph])
		onError = ""
	}
	b.frames = append(b.frames, frame{items: seq.ChildElements(), ph: ph, named: named, onError: onError})
}

// run maps the scheduled mediators, in order, and gives the builder of
// each way through them: one, unless a filter or switch forks it.
func (b *flowBuilder) run() ([]*flowBuilder, error) {
	for len(b.frames) > 0 {
		top := &b.frames[len(b.frames)-1]
		if len(top.items) == 0 {
			b.frames = b.frames[:len(b.frames)-1]
			continue
		}
		m, ph := top.items[0], top.ph
		top.items = top.items[1:]
		if b.responded {
			// Warned about at the end if no way maps it.
			b.c.skipped = append(b.c.skipped, m)
			continue
		}
		b.c.mapped[m] = true
		if m.Tag == "filter" || m.Tag == "switch" {
			return b.branch(m, ph)
		}
		if err := b.mediator(m, ph); err != nil {
			return nil, err
		}
	}
	return []*flowBuilder{b}, nil
}

// warnNeverMapped warns about the mediators that come after a send,
// respond or drop on every way through them.
func (c *compiler) warnNeverMapped() {
	for _, m := range c.skipped {
		if !c.mapped[m] && m.Tag != "description" && !(m.Tag == "out" || m.Tag == "in") {
			c.warnf(m, "after <send>, <respond> or <drop>: not mapped")
			c.mapped[m] = true
		}
	}
}

// runToEnd is run where no branch may fork the flow.
func (b *flowBuilder) runToEnd() error {
	ways, err := b.run()
	if err == nil && len(ways) != 1 {
		err = fmt.Errorf("%d ways through a sequence where none may fork", len(ways))
	}
	return err
}

// sequenceRef schedules the named sequence key; a sequence that reaches
// itself is an error.
func (b *flowBuilder) sequenceRef(at *etree.Element, key string, ph phase) error {
	if strings.ContainsAny(key, "{}") {
		return b.c.errorf(at, "dynamic sequence key %q is not supported: only names", key)
	}
	if chain := b.running(); slices.Contains(chain, key) {
		return b.c.errorf(at, "sequence %q calls itself (%s -> %s)", key, strings.Join(chain, " -> "), key)
	}
	seq, err := b.c.named(at, "sequence", key)
	if err != nil {
		return err
	}
	b.push(seq, ph, key)
	return nil
}

// running names the named sequences and templates being mapped, outermost
// first. Every frame is one still running: one whose last mediator is being
// mapped is popped only after it.
func (b *flowBuilder) running() []string {
	var chain []string
	for _, fr := range b.frames {
		if fr.named != "" {
			chain = append(chain, fr.named)
		}
	}
	return chain
}

// maxMediators bounds the mediators mapped, inlined sequences counted each
// time: sequences that each inline the next one twice would otherwise take
// time exponential in their number.
const maxMediators = 100_000

const supportedMediators = "header, property, sequence, call-template, in, out, filter, switch, call, send, respond, drop, log and makefault (in a faultSequence)"

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
	case "in", "out":
		// InMediator and OutMediator run their children on requests and
		// on responses only. A fault sequence here handles the errors of
		// sending a request.
		if (m.Tag == "in") == (ph != phaseOut) {
			b.push(m, ph, "")
		}
		return nil
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
		return b.drop(m, ph)
	}
	return b.c.errorf(m, "mediator not supported in %s (supported: %s)", b.where(ph), supportedMediators)
}

// drop ends the mediation. Synapse's DropMediator only clears the message's
// To and stops the sequence; what the client gets is then up to the
// transport. Before any send, the pass-through transport's
// ServerWorker.sendAck finds no response written (neither
// Axis2FlexibleMEPClient nor RespondMediator set RESPONSE_WRITTEN) and
// answers 202 Accepted with no body and none of the message's transport
// headers. After a send the response still comes; in a fault sequence the
// client gets the fault, or Caddy's error status.
func (b *flowBuilder) drop(m *etree.Element, ph phase) error {
	switch {
	case ph == phaseFault:
		b.c.warnf(m, "the client still gets the fault or Caddy's error status")
	case ph == phaseIn && !b.called:
		b.f.ack = http.StatusAccepted
	}
	b.responded = true
	return nil
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
	if ph != phaseIn {
		if m.SelectAttr("receive") != nil {
			return b.c.errorf(m, "receive is supported on requests only, not in %s", b.where(ph))
		}
		if ep != nil {
			return b.c.errorf(m, "sending to an endpoint from the %s is not supported", b.where(ph))
		}
		b.responded = m.Tag == "send"
		return nil
	}
	if b.called {
		return b.c.errorf(m, "a second call or send: one request goes to one endpoint")
	}
	b.responded = m.Tag == "send"
	if m.Tag == "send" {
		// SendMediator's receive: the response is mediated by that
		// sequence instead of the outSequence (or main).
		b.f.receive = m.SelectAttrValue("receive", "")
	} else if m.SelectAttr("receive") != nil {
		return b.c.errorf(m, "receive is an attribute of send, not of call")
	}
	if ep == nil {
		return b.sendToRequestHost(m, "without an endpoint Synapse")
	}
	return b.callEndpoint(ep)
}

// where names the sequence being mapped: the target's, or the named one
// inlined there.
func (b *flowBuilder) where(ph phase) string {
	for i := len(b.frames) - 1; i >= 0; i-- {
		n := b.frames[i].named
		if t, ok := strings.CutPrefix(n, "template "); ok {
			return fmt.Sprintf("template %q (called in %s)", t, phaseNames[ph])
		}
		if n != "" {
			return fmt.Sprintf("sequence %q (used as %s)", n, phaseNames[ph])
		}
	}
	return phaseNames[ph]
}

func (b *flowBuilder) callEndpoint(ep *etree.Element) error {
	d, err := b.c.defaultEndpoint(ep)
	if err != nil {
		return err
	}
	if d != nil {
		return b.sendToRequestHost(d, "a default endpoint")
	}
	cl, err := b.c.call(ep, b.name)
	if err != nil {
		return err
	}
	b.f.call, b.called = cl, true
	b.f.errorHandler = b.onError()
	return nil
}

// onError is the onError of the innermost sequence being mapped that has
// one: where Synapse sends the errors of what it does now.
func (b *flowBuilder) onError() string {
	for i := len(b.frames) - 1; i >= 0; i-- {
		if h := b.frames[i].onError; h != "" {
			return h
		}
	}
	return ""
}
