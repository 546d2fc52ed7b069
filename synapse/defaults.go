package synapse

import (
	"github.com/beevik/etree"
)

// defaultSequence is Synapse's default sequence key, where at uses it and
// the configuration does not define it; nil if key has none. Synapse (and
// MI, built on it) adds a main and a fault sequence to a configuration that
// defines neither: SynapseConfigurationBuilder.getConfiguration calls
// SynapseConfigUtils.setDefaultMainSequence (a log and a drop) and
// setDefaultFaultSequence (a full log of the error's code and message, and a
// drop). Its elements take at's position, so that what they warn about
// points at the reference.
//
// Only references use it: no catch-all route is made of the default main
// when the configuration has none. One file adapted alone does not tell
// whether the deployment it comes from has its own main elsewhere (MI ships
// one, answering 404), and a catch-all answering 202 there would differ
// from MI. A target without a faultSequence does not get the default fault
// either, since a log and a drop map to nothing in a fault sequence.
func (c *compiler) defaultSequence(at *etree.Element, key string) *etree.Element {
	if key != "main" && key != "fault" {
		return nil
	}
	seq := etree.NewElement("sequence")
	seq.CreateAttr("name", key)
	log := seq.CreateElement("log")
	if key == "fault" {
		log.CreateAttr("level", "full")
	}
	seq.CreateElement("drop")
	for _, e := range []*etree.Element{seq, log, seq.SelectElement("drop")} {
		c.pos[e] = c.pos[at]
	}
	c.warnf(at, "no sequence named %q: Synapse's default one (a log and a drop, SynapseConfigUtils) is used", key)
	return seq
}
