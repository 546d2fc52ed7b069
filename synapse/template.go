package synapse

import (
	"regexp"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Templates (<template name="T"><parameter name="p"/>... and an <endpoint>
// or a <sequence>) are expanded where they are used, with literal
// parameters: what Synapse computes per message is refused.

// template finds the template key names and the body of the kind wanted
// (endpoint or sequence), with its declared parameters.
func (c *compiler) template(at *etree.Element, key, kind string) (body *etree.Element, params []*etree.Element, err error) {
	t, err := c.named(at, "template", key)
	if err != nil {
		return nil, nil, err
	}
	for _, ch := range t.ChildElements() {
		switch ch.Tag {
		case "parameter":
			params = append(params, ch)
		case "description":
		default:
			if body != nil {
				return nil, nil, c.errorf(ch, "a second body in template %q", key)
			}
			body = ch
		}
	}
	if body == nil || body.Tag != kind {
		return nil, nil, c.errorf(at, "template %q holds %s, not %s", key, describe(body), withArticle(kind))
	}
	return body, params, nil
}

// endpointTemplate expands <endpoint template="T" [name] [uri]><parameter
// name value/>...: a copy of T's endpoint where each attribute and text that
// is "$p", for a parameter p that T declares and ep gives, becomes its value
// (Synapse's Template.create and TemplateEndpointFactory; name and uri are
// parameters of every endpoint template, declared or not).
func (c *compiler) endpointTemplate(ep *etree.Element) (*etree.Element, error) {
	key := ep.SelectAttrValue("template", "")
	body, declared, err := c.template(ep, key, "endpoint")
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, a := range []string{"name", "uri"} {
		if v := ep.SelectAttr(a); v != nil {
			values[a] = v.Value
		}
	}
	for _, p := range ep.SelectElements("parameter") {
		name, value := p.SelectAttr("name"), p.SelectAttr("value")
		if name == nil || value == nil {
			return nil, c.errorf(p, "a template parameter needs a name and a value")
		}
		// Synapse resolves $SYSTEM: and $FILE: values when it starts.
		if strings.HasPrefix(value.Value, "$SYSTEM:") || strings.HasPrefix(value.Value, "$FILE:") {
			return nil, c.errorf(p, "parameter %q: %q is resolved by Synapse from its environment: give the value itself", name.Value, value.Value)
		}
		values[name.Value] = value.Value
	}
	// TemplateFactory declares name and uri in every endpoint template.
	names := []string{"name", "uri"}
	for _, p := range declared {
		names = append(names, strings.TrimSpace(p.SelectAttrValue("name", "")))
	}
	if body.SelectAttr("template") != nil || body.SelectAttr("key") != nil {
		return nil, c.errorf(body, "the endpoint of template %q refers to another endpoint: not supported, give it inline", key)
	}
	expanded := c.copyElement(body)
	var missing error
	substitute(expanded, func(e *etree.Element, s string) string {
		p, ok := strings.CutPrefix(s, "$")
		if !ok || !slices.Contains(names, p) {
			return s
		}
		v, given := values[p]
		if !given {
			if missing == nil {
				missing = c.errorf(ep, "template %q: parameter %q has no value", key, p)
			}
			return s
		}
		return v
	})
	return expanded, missing
}

// funcParam is how a sequence template reads its parameter: $func:p or
// get-property('func', 'p').
var funcParam = regexp.MustCompile(`^\s*(?:\$func:([\w.-]+)|get-property\(\s*['"]func['"]\s*,\s*['"]([\w.-]+)['"]\s*\))\s*$`)

// callTemplate maps <call-template target="T"><with-param name value/>:
// T's sequence inlined, each expression attribute that only reads a
// parameter given a literal value becoming that value. Parameters given
// as expressions ({...}, evaluated per message) are refused.
func (b *flowBuilder) callTemplate(m *etree.Element, ph phase) error {
	key := m.SelectAttrValue("target", "")
	if key == "" {
		return b.c.errorf(m, "call-template needs a target")
	}
	if m.SelectAttr("onError") != nil {
		return b.c.errorf(m, "onError is not supported: use the faultSequence of the proxy or resource")
	}
	body, declared, err := b.c.template(m, key, "sequence")
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, p := range declared {
		if d := p.SelectAttr("defaultValue"); d != nil {
			values[p.SelectAttrValue("name", "")] = d.Value
		}
	}
	for _, ch := range m.ChildElements() {
		switch ch.Tag {
		case "with-param":
		case "description":
			continue
		default:
			return b.c.errorf(ch, "not supported in <call-template> (only with-param)")
		}
		name, value := ch.SelectAttrValue("name", ""), ch.SelectAttrValue("value", "")
		if name == "" {
			return b.c.errorf(ch, "a with-param needs a name")
		}
		if strings.HasPrefix(value, "{") && strings.HasSuffix(value, "}") {
			return b.c.errorf(ch, "parameter %q is the expression %s, evaluated per message: not supported, give a literal value", name, value)
		}
		values[name] = value
	}
	expanded := b.c.copyElement(body)
	var unset error
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if a := e.SelectAttr("expression"); a != nil {
			if sm := funcParam.FindStringSubmatch(a.Value); sm != nil {
				p := sm[1] + sm[2]
				if v, ok := values[p]; ok {
					e.RemoveAttr("expression")
					e.CreateAttr("value", v)
				} else if unset == nil {
					unset = b.c.errorf(e, "template %q: parameter %q has no value (call-template at line %d)", key, p, b.c.pos[m].line)
				}
			}
		}
		for _, ch := range e.ChildElements() {
			walk(ch)
		}
	}
	walk(expanded)
	if unset != nil {
		return unset
	}
	if chain := b.running(); slices.Contains(chain, "template "+key) {
		return b.c.errorf(m, "template %q calls itself (%s -> template %s)", key, strings.Join(chain, " -> "), key)
	}
	b.push(expanded, ph, "template "+key)
	return nil
}

// copyElement copies e, its copies keeping the positions of the originals.
func (c *compiler) copyElement(e *etree.Element) *etree.Element {
	cp := e.Copy()
	var pair func(orig, dup *etree.Element)
	pair = func(orig, dup *etree.Element) {
		c.pos[dup] = c.pos[orig]
		for i, ch := range orig.ChildElements() {
			pair(ch, dup.ChildElements()[i])
		}
	}
	pair(e, cp)
	return cp
}

// substitute replaces each attribute value and text of e and its
// descendants by f of it.
func substitute(e *etree.Element, f func(e *etree.Element, s string) string) {
	for i := range e.Attr {
		e.Attr[i].Value = f(e, e.Attr[i].Value)
	}
	if t := e.Text(); t != "" {
		e.SetText(f(e, t))
	}
	for _, ch := range e.ChildElements() {
		substitute(ch, f)
	}
}
