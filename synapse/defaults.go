package synapse

import (
	"github.com/beevik/etree"
)

// Synapse (and MI, built on it) adds a main and a fault sequence to a
// configuration that defines neither: SynapseConfigurationBuilder.
// getConfiguration calls SynapseConfigUtils.setDefaultMainSequence (a log
// and a drop) and setDefaultFaultSequence (a full log of the error's code
// and message, and a drop).

// defaultSequenceElement is Synapse's default sequence named key, "main"
// or "fault", as XML.
func defaultSequenceElement(key string) *etree.Element {
	seq := etree.NewElement("sequence")
	seq.CreateAttr("name", key)
	log := seq.CreateElement("log")
	if key == "fault" {
		log.CreateAttr("level", "full")
	}
	seq.CreateElement("drop")
	return seq
}

// defaultSequence is Synapse's default sequence key, where at uses it and
// the configuration does not define it; nil if key has none. Its elements
// take at's position, so that what they warn about points at the
// reference.
//
// Only references use it, unless the files are a whole deployment (see
// defaultMain): no catch-all route is made of the default main when one
// file, adapted alone, has none, since it does not tell whether the
// deployment it comes from has its own main elsewhere (MI ships one,
// answering 404), and a catch-all answering 202 there would differ from
// MI. A target without a faultSequence does not get the default fault
// either, since a log and a drop map to nothing in a fault sequence.
func (c *compiler) defaultSequence(at *etree.Element, key string) *etree.Element {
	if key != "main" && key != "fault" {
		return nil
	}
	seq := defaultSequenceElement(key)
	for _, e := range append([]*etree.Element{seq}, seq.ChildElements()...) {
		c.pos[e] = c.pos[at]
	}
	c.warnf(at, "no sequence named %q: Synapse's default one (a log and a drop, SynapseConfigUtils) is used", key)
	return seq
}

// defaultMain is the main sequence of a whole deployment that defines none
// (in a file or a local entry): Synapse's default, which
// SynapseConfigurationBuilder.getConfiguration adds after reading the
// deployment folder, so that what no proxy or API takes is logged and
// dropped, which the pass-through transport acknowledges with 202 and no
// body. It has no file: its warnings have no position.
func (c *compiler) defaultMain() *etree.Element {
	seq := defaultSequenceElement("main")
	c.warnf(seq, "no sequence named \"main\" in the deployment: Synapse's default one (a log and a drop, SynapseConfigurationBuilder) takes what no proxy or API takes, answered 202 with no body")
	return seq
}
