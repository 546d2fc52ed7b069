package synapse

import (
	"github.com/beevik/etree"
)

// defaultSequences are the main and fault sequences Synapse (and MI, built
// on it) adds to a configuration that defines none:
// SynapseConfigurationBuilder.getConfiguration calls
// SynapseConfigUtils.setDefaultMainSequence (a log and a drop) and
// setDefaultFaultSequence (a full log of the error and a drop).
var defaultSequences = map[string]string{
	"main": `<sequence name="main"><log/><drop/></sequence>`,
	"fault": `<sequence name="fault"><log level="full">` +
		`<property name="MESSAGE" value="Executing default &quot;fault&quot; sequence"/>` +
		`<property name="ERROR_CODE" expression="get-property('ERROR_CODE')"/>` +
		`<property name="ERROR_MESSAGE" expression="get-property('ERROR_MESSAGE')"/>` +
		`</log><drop/></sequence>`,
}

// defaultSequence is Synapse's default sequence key, where at uses it and
// the configuration does not define it (nil if key has no default). Its
// elements take at's position, so that what they warn about points at the
// reference.
//
// Only references use it: no catch-all route is made of the default main
// when the configuration has none. One file adapted alone does not tell
// whether the deployment it comes from has its own main elsewhere (MI ships
// one, answering 404), and a catch-all answering 202 there would differ
// from MI; a target without a faultSequence does not get the default fault
// either, since a log and a drop map to nothing in a fault sequence.
func (c *compiler) defaultSequence(at *etree.Element, key string) *etree.Element {
	text, ok := defaultSequences[key]
	if !ok {
		return nil
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(text); err != nil {
		panic("synapse: default sequence " + key + ": " + err.Error())
	}
	seq := doc.Root()
	var place func(e *etree.Element)
	place = func(e *etree.Element) {
		c.pos[e] = c.pos[at]
		for _, ch := range e.ChildElements() {
			place(ch)
		}
	}
	place(seq)
	c.warnf(at, "no sequence named %q: Synapse's default one (a log and a drop, SynapseConfigUtils) is used", key)
	return seq
}
