package soapfault

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// DefaultReason is the reason of Synapse's load-balancing sample.
const DefaultReason = "COULDN'T SEND THE MESSAGE TO THE SERVER."

// Fault describes the fault to send, as Synapse's makefault mediator does.
type Fault struct {
	// Version of the fault; VersionAuto compiles all three and picks one per
	// request.
	Version Version
	// Code is the fault code; the zero Code means DefaultCode. Ignored by POX.
	Code Code
	// Reason is the reason text used by render. A compiled Template takes the
	// reason per request instead, so that it may be expanded first.
	Reason string
	// Role is the SOAP 1.1 faultactor / SOAP 1.2 Role URI (optional).
	Role string
	// Node is the SOAP 1.2 Node URI (optional; SOAP 1.2 and auto only).
	Node string
	// Detail is an XML fragment (if it starts with '<') or plain text
	// (optional). A POX fault carries the detail instead of the reason.
	Detail string
}

// Validate reports the first problem of f, naming the offending value.
func (f *Fault) Validate() error {
	switch f.Version {
	case VersionAuto, VersionSOAP11, VersionSOAP12, VersionPOX:
	default:
		return fmt.Errorf("unknown fault version %v", f.Version)
	}
	code := f.code()
	if code.Prefix != "" && (!soap.IsNCName(code.Prefix) || strings.EqualFold(code.Prefix, "xml") || strings.EqualFold(code.Prefix, "xmlns")) {
		return fmt.Errorf("fault code %q: invalid namespace prefix %q", code.String(), code.Prefix)
	}
	switch f.Version {
	case VersionSOAP11, VersionSOAP12:
		if err := code.validFor(f.Version); err != nil {
			return err
		}
	default:
		if code.validFor(VersionSOAP11) != nil && code.validFor(VersionSOAP12) != nil {
			_, err := ParseCode(code.String())
			return err
		}
	}
	if f.Role != "" {
		if f.Version == VersionPOX {
			return fmt.Errorf("role %q: a POX fault has no role", f.Role)
		}
		if err := checkURI(f.Role); err != nil {
			return fmt.Errorf("role %q: %w", f.Role, err)
		}
	}
	if f.Node != "" {
		if f.Version != VersionSOAP12 && f.Version != VersionAuto {
			return fmt.Errorf("node %q: only a SOAP 1.2 fault has a node, not %s", f.Node, f.Version)
		}
		if err := checkURI(f.Node); err != nil {
			return fmt.Errorf("node %q: %w", f.Node, err)
		}
	}
	if _, _, err := parseDetail(f.Detail); err != nil {
		return fmt.Errorf("detail %q: %w", f.Detail, err)
	}
	return nil
}

func (f *Fault) code() Code {
	if f.Code == (Code{}) {
		return DefaultCode
	}
	return f.Code
}

func checkURI(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == utf8.RuneError }) {
		return errors.New("not a URI: contains whitespace or control characters")
	}
	if _, err := url.Parse(s); err != nil {
		return errors.New("not a URI")
	}
	return nil
}

// Template is one pre-rendered fault: the bytes before and after the reason.
type Template struct {
	version   Version
	head      []byte
	tail      []byte
	hasReason bool
}

// ContentType returns the Content-Type header value for the fault.
func (t *Template) ContentType() string { return t.version.ContentType() }

// UsesReason reports whether Append uses its reason argument (a POX fault
// with a detail does not), so that callers can skip expanding it.
func (t *Template) UsesReason() bool { return t.hasReason }

// Append appends the fault with the given reason, escaped as XML text, to dst.
// Characters that XML cannot carry are replaced with U+FFFD.
func (t *Template) Append(dst []byte, reason string) []byte {
	dst = append(dst, t.head...)
	if t.hasReason {
		dst = soap.AppendEscaped(dst, reason)
	}
	return append(dst, t.tail...)
}

// Compiled is a validated fault, pre-rendered in each version it may be sent in.
type Compiled struct {
	version   Version
	templates [VersionPOX + 1]*Template
}

// Compile validates f and pre-renders it.
func Compile(f Fault) (*Compiled, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{version: f.Version}
	versions := []Version{f.Version}
	if f.Version == VersionAuto {
		versions = []Version{VersionSOAP11, VersionSOAP12, VersionPOX}
	}
	for _, v := range versions {
		t, err := compile(f, v)
		if err != nil {
			return nil, fmt.Errorf("rendering %s fault: %w", v, err)
		}
		c.templates[v] = t
	}
	return c, nil
}

// Template returns the fault for a request with the given Content-Type: the
// configured version, or with VersionAuto the version of the request
// (soap.VersionOf: SOAP 1.1, SOAP 1.2, else POX).
func (c *Compiled) Template(requestContentType string) *Template {
	if c.version != VersionAuto {
		return c.templates[c.version]
	}
	return c.templates[versionOf(soap.VersionOf(requestContentType))]
}

// render validates f and renders it with f.Reason. f.Version must not be
// VersionAuto.
func render(f Fault) ([]byte, error) {
	if f.Version == VersionAuto {
		return nil, errors.New("cannot render an auto fault without a request; use Compile")
	}
	c, err := Compile(f)
	if err != nil {
		return nil, err
	}
	return c.templates[f.Version].Append(nil, f.Reason), nil
}

// reasonMark stands for the reason while the envelope is serialized; it is
// made of private-use characters that etree writes as they are.
const reasonMark = "\uE000soapfault:reason\uE000"

func compile(f Fault, v Version) (*Template, error) {
	detail, detailIsXML, err := parseDetail(f.Detail)
	if err != nil {
		return nil, err
	}
	addDetail := func(parent *etree.Element) {
		if detailIsXML {
			for _, tok := range detail {
				parent.AddChild(tok)
			}
		} else {
			parent.SetText(f.Detail)
		}
	}

	doc := etree.NewDocument()
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	code := f.code().For(v)
	switch v {
	case VersionSOAP11:
		fault := envelope(doc, v.soap().Namespace())
		fc := fault.CreateElement("faultcode")
		fc.CreateAttr("xmlns:"+code.Prefix, v.soap().Namespace())
		fc.SetText(code.Prefix + ":" + code.Local)
		fault.CreateElement("faultstring").SetText(reasonMark)
		if f.Role != "" {
			fault.CreateElement("faultactor").SetText(f.Role)
		}
		if f.Detail != "" {
			addDetail(fault.CreateElement("detail"))
		}
	case VersionSOAP12:
		fault := envelope(doc, v.soap().Namespace())
		value := fault.CreateElement("soapenv:Code").CreateElement("soapenv:Value")
		value.CreateAttr("xmlns:"+code.Prefix, v.soap().Namespace())
		value.SetText(code.Prefix + ":" + code.Local)
		text := fault.CreateElement("soapenv:Reason").CreateElement("soapenv:Text")
		text.CreateAttr("xml:lang", "en")
		text.SetText(reasonMark)
		if f.Node != "" {
			fault.CreateElement("soapenv:Node").SetText(f.Node)
		}
		if f.Role != "" {
			fault.CreateElement("soapenv:Role").SetText(f.Role)
		}
		if f.Detail != "" {
			addDetail(fault.CreateElement("soapenv:Detail"))
		}
	case VersionPOX:
		exc := doc.CreateElement("Exception")
		if f.Detail != "" {
			addDetail(exc)
		} else {
			exc.SetText(reasonMark)
		}
	default:
		return nil, fmt.Errorf("cannot render version %v", v)
	}

	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	t := &Template{version: v}
	switch n := bytes.Count(out, []byte(reasonMark)); {
	case n == 1:
		i := bytes.Index(out, []byte(reasonMark))
		t.head, t.tail, t.hasReason = out[:i:i], out[i+len(reasonMark):], true
	case n == 0 && v == VersionPOX && f.Detail != "":
		t.head = out
	default:
		return nil, errors.New("the configured texts must not contain the reserved reason marker")
	}
	return t, nil
}

// envelope creates soapenv:Envelope/soapenv:Body/soapenv:Fault and returns the
// Fault element.
func envelope(doc *etree.Document, ns string) *etree.Element {
	env := doc.CreateElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", ns)
	return env.CreateElement("soapenv:Body").CreateElement("soapenv:Fault")
}

// parseDetail parses an XML fragment detail (one that starts with '<' after
// leading white space) into tokens ready to be added to a parent element. A
// plain text detail gives isXML false and no tokens.
func parseDetail(s string) (tokens []etree.Token, isXML bool, err error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "<") {
		return nil, false, nil
	}
	const wrapper = "soapfault-detail"
	doc := etree.NewDocument()
	if err := doc.ReadFromString("<" + wrapper + ">" + s + "</" + wrapper + ">"); err != nil {
		return nil, true, fmt.Errorf("malformed XML: %w", err)
	}
	if len(doc.Child) != 1 || doc.Root() == nil || doc.Root().Tag != wrapper || doc.Root().Space != "" {
		return nil, true, errors.New("malformed XML: unbalanced end tag")
	}
	root := doc.Root()
	if err := checkTokens(root.Child); err != nil {
		return nil, true, err
	}
	return append([]etree.Token(nil), root.Child...), true, nil
}

// checkTokens rejects what encoding/xml lets through but a SOAP detail must not
// contain: undeclared namespace prefixes, processing instructions and DTDs.
func checkTokens(tokens []etree.Token) error {
	for _, tok := range tokens {
		switch t := tok.(type) {
		case *etree.Element:
			if t.Space != "" && t.Space != "xml" && t.NamespaceURI() == "" {
				return fmt.Errorf("element <%s>: undeclared namespace prefix %q", t.FullTag(), t.Space)
			}
			for i := range t.Attr {
				a := &t.Attr[i]
				if a.Space != "" && a.Space != "xml" && a.Space != "xmlns" && a.NamespaceURI() == "" {
					return fmt.Errorf("attribute %s of <%s>: undeclared namespace prefix %q", a.FullKey(), t.FullTag(), a.Space)
				}
			}
			if err := checkTokens(t.Child); err != nil {
				return err
			}
		case *etree.ProcInst:
			return fmt.Errorf("processing instruction <?%s?> not allowed", t.Target)
		case *etree.Directive:
			return errors.New("DTD or directive not allowed")
		}
	}
	return nil
}
