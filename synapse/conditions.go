package synapse

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/beevik/etree"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soapxpath"
)

// Content-based routing: the filter and switch mediators become one way per
// branch, each with the Caddy matchers of its condition (header_regexp,
// vars_regexp over the request URI, soap_xpath over the envelope).

// maxBranches bounds the branches mapped, each filter or switch counted
// once per way that reaches it: filters in a row double the ways.
const maxBranches = 1000

// maxAlternatives bounds the matcher sets of one way: conditions on To and
// Action have two each, and nested ones multiply.
const maxAlternatives = 64

// choice is one branch of a filter or switch: its condition (nil: the
// branch taken when no earlier one is) and its mediators (nil: none, the
// mediation goes on after the filter or switch).
type choice struct {
	when []matchSet
	body *etree.Element
}

// branch forks b at a filter or switch: each branch maps its own mediators,
// then what follows the filter or switch, as FilterMediator and
// SwitchMediator go on with the sequence unless the branch stopped it.
func (b *flowBuilder) branch(m *etree.Element, ph phase) ([]*flowBuilder, error) {
	if b.c.mediators++; b.c.mediators > maxMediators {
		return nil, b.c.errorf(m, "more than %d mediators once sequences are inlined", maxMediators)
	}
	switch {
	case ph != phaseIn:
		return nil, b.c.errorf(m, "%s is supported on requests only, not in %s", m.Tag, b.where(ph))
	case b.called:
		return nil, b.c.errorf(m, "%s after a call tests the response: not supported (conditions are on the request)", m.Tag)
	}
	var choices []choice
	var err error
	if m.Tag == "filter" {
		choices, err = b.filter(m)
	} else {
		choices, err = b.switchCases(m)
	}
	if err != nil {
		return nil, err
	}
	var ways []*flowBuilder
	if b.c.branches += len(choices); b.c.branches > maxBranches {
		return nil, b.c.errorf(m, "more than %d branches once filters and switches are combined", maxBranches)
	}
	for _, ch := range choices {
		nb := b.fork()
		if nb.when, err = and(b.when, ch.when); err != nil {
			return nil, b.c.errorf(m, "%v", err)
		}
		if ch.body != nil {
			nb.push(ch.body, ph, "")
		}
		more, err := nb.run()
		if err != nil {
			return nil, err
		}
		ways = append(ways, more...)
	}
	return ways, nil
}

// filter reads <filter source regex> or <filter xpath>, with <then> and
// <else> or with its mediators as the then branch.
func (b *flowBuilder) filter(m *etree.Element) ([]choice, error) {
	source, hasSource := m.SelectAttrValue("source", ""), m.SelectAttr("source") != nil
	xpath, hasXPath := m.SelectAttrValue("xpath", ""), m.SelectAttr("xpath") != nil
	var when []matchSet
	var err error
	switch {
	case hasSource == hasXPath:
		return nil, b.c.errorf(m, "needs either source and regex, or xpath")
	case hasXPath:
		when, err = b.condition(m, xpath, nil)
	default:
		regex := m.SelectAttrValue("regex", "")
		if m.SelectAttr("regex") == nil {
			return nil, b.c.errorf(m, "source=%q needs a regex", source)
		}
		when, err = b.condition(m, source, &regex)
	}
	if err != nil {
		return nil, err
	}
	then, els := m.SelectElement("then"), m.SelectElement("else")
	if then == nil && els == nil {
		// FilterMediator without then and else: its children are the then.
		return []choice{{when: when, body: m}, {}}, nil
	}
	for _, ch := range m.ChildElements() {
		if ch != then && ch != els && ch.Tag != "description" {
			return nil, b.c.errorf(ch, "not supported in a filter with then or else (supported: then, else)")
		}
	}
	return []choice{{when: when, body: then}, {body: els}}, nil
}

// switchCases reads <switch source> with its <case regex> in order and its
// <default>.
func (b *flowBuilder) switchCases(m *etree.Element) ([]choice, error) {
	source := m.SelectAttrValue("source", "")
	if source == "" {
		return nil, b.c.errorf(m, "needs a source")
	}
	var choices []choice
	var def *etree.Element
	for _, ch := range m.ChildElements() {
		switch ch.Tag {
		case "case":
			regex := ch.SelectAttrValue("regex", "")
			if ch.SelectAttr("regex") == nil {
				return nil, b.c.errorf(ch, "needs a regex")
			}
			when, err := b.condition(ch, source, &regex)
			if err != nil {
				return nil, err
			}
			choices = append(choices, choice{when: when, body: ch})
		case "default":
			def = ch
		case "description":
		default:
			return nil, b.c.errorf(ch, "not supported in a switch (supported: case, default)")
		}
	}
	return append(choices, choice{body: def}), nil
}

// Where Synapse reads the WS-Addressing headers: either version's, in the
// SOAP Header.
const (
	wsaHeader = "/*[local-name()='Envelope']/*[local-name()='Header']/*[namespace-uri()='http://www.w3.org/2005/08/addressing' or namespace-uri()='http://schemas.xmlsoap.org/ws/2004/08/addressing']"
	wsaTo     = wsaHeader + "[local-name()='To']"
	wsaAction = wsaHeader + "[local-name()='Action']"
	envHeader = "/*[local-name()='Envelope']/*[local-name()='Header']"
	envBody   = "/*[local-name()='Envelope']/*[local-name()='Body']"
)

var (
	trpVar      = regexp.MustCompile(`^\$trp:([A-Za-z0-9_.-]+)$`)
	urlVar      = regexp.MustCompile(`^\$url:([A-Za-z0-9_.-]+)$`)
	getProperty = regexp.MustCompile(`^get-property\(\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)")\s*)?\)$`)
)

const supportedSources = "$trp:NAME, get-property('transport', 'NAME'), get-property('To'), get-property('Action'), get-property('axis2', 'REST_URL_POSTFIX') or $axis2:REST_URL_POSTFIX, $url:NAME, or an XPath over the envelope, $header and $body"

// condition maps a filter's or switch's source (with regex, a Java regex
// the whole value must match, as Matcher.matches() in FilterMediator and
// SwitchCase) or a filter's xpath (regex nil: the XPath's boolean value)
// to Caddy matcher sets, any of which must hold. A source that is absent
// (no such header, no node) matches no regex, as Synapse's null source.
func (b *flowBuilder) condition(at *etree.Element, source string, regex *string) ([]matchSet, error) {
	source = strings.TrimSpace(source)
	pattern := ".+" // a string's boolean value: not empty
	if regex != nil {
		pattern = *regex
		if strings.Contains(pattern, "&&") {
			return nil, b.c.errorf(at, "regex %q: Java's character class intersection (&&) is not supported", pattern)
		}
		if _, err := regexp.Compile(pattern); err != nil {
			return nil, b.c.errorf(at, "regex %q is not supported: %v (Caddy's regexps are RE2: no lookaround or backreferences)", pattern, err)
		}
	}
	anchored := "^(?:" + pattern + ")$"
	if m := trpVar.FindStringSubmatch(source); m != nil {
		return b.headerCondition(at, m[1], anchored)
	}
	if source == "$axis2:REST_URL_POSTFIX" {
		return b.propertyCondition(at, "axis2", "REST_URL_POSTFIX", pattern, anchored)
	}
	if m := urlVar.FindStringSubmatch(source); m != nil {
		return []matchSet{{vars: map[string]string{"{http.request.uri.query." + m[1] + "}": anchored}}}, nil
	}
	if m := getProperty.FindStringSubmatch(source); m != nil {
		scope, name := m[1]+m[2], m[3]+m[4]
		if m[3] == "" && m[4] == "" {
			scope, name = "default", scope
		}
		return b.propertyCondition(at, scope, name, pattern, anchored)
	}
	expr := strings.ReplaceAll(strings.ReplaceAll(source, "$header", envHeader), "$body", envBody)
	if strings.Contains(expr, "$") || strings.Contains(expr, "get-property(") {
		return nil, b.c.errorf(at, "source %q is not supported (supported: %s, each alone)", source, supportedSources)
	}
	if regex != nil {
		lit, err := xpathLiteral(anchored)
		if err != nil {
			return nil, b.c.errorf(at, "regex %q: %v", pattern, err)
		}
		expr = "matches(" + expr + ", " + lit + ")"
	}
	ns := namespacesInScope(at)
	if _, err := soapxpath.Compile(expr, ns, nil); err != nil {
		return nil, b.c.errorf(at, "%v", err)
	}
	return []matchSet{{xpath: expr, namespaces: ns}}, nil
}

// propertyCondition maps get-property(scope, name) sources.
func (b *flowBuilder) propertyCondition(at *etree.Element, scope, name, pattern, anchored string) ([]matchSet, error) {
	lit, err := xpathLiteral(anchored)
	if err != nil && (name == "To" || name == "Action" || name == "SOAPAction") {
		return nil, b.c.errorf(at, "regex %q: %v", pattern, err)
	}
	switch {
	case scope == "transport":
		return b.headerCondition(at, name, anchored)
	case scope == "default" && name == "To":
		// Synapse's To: the wsa:To header, else the request's target as
		// the client sent it (ServerWorker sets it from the request line).
		return []matchSet{
			{xpath: "matches(" + wsaTo + ", " + lit + ")"},
			{notXPath: wsaTo, vars: map[string]string{"{http.request.orig_uri}": anchored}},
		}, nil
	case scope == "default" && (name == "Action" || name == "SOAPAction"):
		if b.f.reqHeaders.has("SOAPAction") {
			return nil, b.c.errorf(at, "the condition reads the Action that the flow has set before it: not supported")
		}
		// Else the SOAPAction header, whose quotes ServerWorker strips.
		return []matchSet{
			{xpath: "matches(" + wsaAction + ", " + lit + ")"},
			{notXPath: wsaAction, headers: map[string]string{"SOAPAction": `^(?:"(?:` + pattern + `)"|(?:` + pattern + `))$`}},
		}, nil
	case (scope == "axis2" || scope == "default") && name == "REST_URL_POSTFIX":
		if b.f.postfix != nil {
			return nil, b.c.errorf(at, "the condition reads the REST_URL_POSTFIX that the flow has set before it: not supported")
		}
		return []matchSet{{vars: map[string]string{"{http.request.uri}": "^" + regexp.QuoteMeta(b.f.prefix) + "(?:" + pattern + ")$"}}}, nil
	}
	return nil, b.c.errorf(at, "get-property(%q, %q) is not supported (supported: %s)", scope, name, supportedSources)
}

func (b *flowBuilder) headerCondition(at *etree.Element, name, anchored string) ([]matchSet, error) {
	if b.f.reqHeaders.has(name) {
		return nil, b.c.errorf(at, "the condition reads header %q, which the flow sets before it: not supported", name)
	}
	return []matchSet{{headers: map[string]string{name: anchored}}}, nil
}

// xpathLiteral quotes s as an XPath 1.0 string literal, which has no escapes.
func xpathLiteral(s string) (string, error) {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'", nil
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	}
	return "", errors.New("holds both quote characters, which an XPath string cannot")
}

// namespacesInScope are the prefixes declared on e and its ancestors, the
// nearest declaration winning, as Synapse's XPaths see them.
func namespacesInScope(e *etree.Element) map[string]string {
	ns := map[string]string{}
	for ; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if _, seen := ns[a.Key]; a.Space == "xmlns" && !seen {
				ns[a.Key] = a.Value
			}
		}
	}
	return ns
}

// and is the condition that both a and b hold (nil: always).
func and(a, b []matchSet) ([]matchSet, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	var out []matchSet
	for _, x := range a {
		for _, y := range b {
			m, err := x.and(y)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	if len(out) > maxAlternatives {
		return nil, fmt.Errorf("more than %d matcher sets for one branch", maxAlternatives)
	}
	return out, nil
}

func (x matchSet) and(y matchSet) (matchSet, error) {
	var m matchSet
	var err error
	if m.headers, err = union(x.headers, y.headers, "header"); err != nil {
		return m, err
	}
	if m.vars, err = union(x.vars, y.vars, "request part"); err != nil {
		return m, err
	}
	if m.namespaces, err = union(x.namespaces, y.namespaces, "namespace prefix"); err != nil {
		return m, err
	}
	m.xpath = joinXPath(x.xpath, y.xpath, "and")
	m.notXPath = joinXPath(x.notXPath, y.notXPath, "or") // not(a) and not(b)
	return m, nil
}

// union merges two maps whose keys must not differ in value.
func union(a, b map[string]string, what string) (map[string]string, error) {
	if len(a)+len(b) == 0 {
		return nil, nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range b {
		for k2, v2 := range out {
			if strings.EqualFold(k, k2) && v != v2 {
				return nil, fmt.Errorf("two conditions on %s %q in one branch: not supported", what, k)
			}
		}
		out[k] = v
	}
	return out, nil
}

func joinXPath(a, b, op string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") " + op + " (" + b + ")"
}
