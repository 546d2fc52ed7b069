package synapse

import (
	"errors"
	"maps"

	"github.com/beevik/etree"
)

// Synapse's main sequence mediates every message that no proxy service or
// API takes (SynapseConfiguration's MAIN_SEQUENCE_KEY, run by
// SynapseMessageReceiver for requests and for the responses of what it
// sent): here it is the last route of both servers, matching any request.

// mainOrWarning maps main; where it cannot be mapped, it is left out with a
// warning saying why, as the named sequences nothing uses are, so that it
// does not block the proxies and APIs that can be (Caddy then answers what
// they do not take itself).
func (c *compiler) mainOrWarning() (*service, error) {
	warnings, skipped, used := len(c.warnings), len(c.skipped), maps.Clone(c.used)
	main, err := c.mainSequence()
	var refused *Error
	if err == nil || !errors.As(err, &refused) {
		return main, err
	}
	c.warnings, c.skipped, c.used = c.warnings[:warnings], c.skipped[:skipped], used
	c.used["sequence:main"] = true
	c.warnf(c.sequences["main"], "sequence \"main\" (Synapse's for the messages no proxy or API takes) is not mapped, Caddy answers them itself: %v", err)
	return nil, nil
}

// mainSequence maps the sequence named main, if any.
func (c *compiler) mainSequence() (*service, error) {
	seq, ok := c.sequences["main"]
	if !ok {
		return nil, nil
	}
	c.used["sequence:main"] = true
	b := &flowBuilder{c: c, f: &flow{}, name: "main"}
	b.push(seq, phaseIn, "main")
	builders, err := b.run()
	if err != nil {
		return nil, err
	}
	outs := c.mainResponseMediators(seq)
	ways := make([]*way, 0, len(builders))
	for _, w := range builders {
		// Responses pass through main again, where its <out> mediators
		// apply, or through the send's receive sequence.
		w.responded = false
		if w.f.receive != "" {
			if err := w.sequenceRef(seq, w.f.receive, phaseOut); err != nil {
				return nil, err
			}
		} else {
			for i := len(outs) - 1; i >= 0; i-- {
				w.push(outs[i], phaseOut, "main")
			}
		}
		if err := w.runToEnd(); err != nil {
			return nil, err
		}
		// Errors go to main's onError, else to the sequence named fault,
		// which Axis2SynapseEnvironment.injectMessage pushes as the fault
		// handler of every message that is not for a proxy.
		handler := w.f.errorHandler
		if _, ok := c.sequences["fault"]; ok && handler == "" && (w.f.call != nil || w.f.sendTo) {
			handler = "fault"
		}
		if handler != "" {
			w.responded = false
			if err := w.sequenceRef(seq, handler, phaseFault); err != nil {
				return nil, err
			}
			if err := w.runToEnd(); err != nil {
				return nil, err
			}
		}
		if err := w.answers(seq); err != nil {
			return nil, err
		}
		ways = append(ways, &way{when: w.when, flow: w.f})
	}
	return &service{name: "main", http: true, https: true, routes: []*route{{ways: withRefusal(ways)}}}, nil
}

// mainResponseMediators are the <out> mediators of main. The others run on
// responses too in Synapse; mapped for requests only, they are warned about.
func (c *compiler) mainResponseMediators(seq *etree.Element) []*etree.Element {
	var outs []*etree.Element
	both := false
	for _, m := range seq.ChildElements() {
		switch m.Tag {
		case "out":
			outs = append(outs, m)
		case "in", "description", "log", "drop":
		default:
			both = true
		}
	}
	if both {
		c.warnf(seq, "Synapse runs the mediators of main outside <in> and <out> on responses too: they are mapped for requests; responses go back to the client as they come")
	}
	return outs
}
