package soap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WS-Addressing versions and their namespaces, as Synapse's <enableAddressing
// version="final|submission"/>.
const (
	addressingFinal      = "final"
	addressingSubmission = "submission"

	WSAFinalNamespace      = "http://www.w3.org/2005/08/addressing"
	WSASubmissionNamespace = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
)

// submissionAnonymous is the anonymous ReplyTo address of the submission
// version; the final version leaves an anonymous ReplyTo out.
const submissionAnonymous = WSASubmissionNamespace + "/role/anonymous"

// The header blocks this package writes; the client's blocks of these names
// (in the configured version's namespace) are replaced, or kept with preserve.
var addressingBlocks = [...]string{"To", "MessageID", "Action", "ReplyTo"}

// Addressing writes WS-Addressing headers into the SOAP Header of requests.
type Addressing struct {
	ns       string
	replyTo  bool // write the anonymous ReplyTo (submission only)
	preserve bool
}

// NewAddressing validates version ("final", the default when empty, or
// "submission"). With preserve, WS-Addressing blocks the client sent are kept
// and only the missing ones are written.
func NewAddressing(version string, preserve bool) (*Addressing, error) {
	switch version {
	case "", addressingFinal:
		return &Addressing{ns: WSAFinalNamespace, preserve: preserve}, nil
	case addressingSubmission:
		return &Addressing{ns: WSASubmissionNamespace, replyTo: true, preserve: preserve}, nil
	}
	return nil, fmt.Errorf("invalid WS-Addressing version %q: want %s or %s", version, addressingFinal, addressingSubmission)
}

// AddressingHeaders are the values written for one attempt of a request.
// An empty Action is left out.
type AddressingHeaders struct {
	To, MessageID, Action string
}

// Message is the peeked start of a request body, as far as the end of its
// SOAP Header, with what a rewrite of the Header needs. The body's remaining
// bytes stay unread in the original.
type Message struct {
	prefix []byte
	rest   io.ReadCloser
	layout *headerLayout // nil: not an envelope whose Header (or its absence) was seen
}

// ReadMessage reads body as far as the end of the SOAP Header (or the start of
// the Body when there is none), never beyond limit bytes, and records where
// the parts of the Header lie, for a rewrite. It also returns the text of the
// first header block named block, so that one pass serves a session id too.
// err says why the Header could not be read to its end (see
// xmlHeaderScanner.Err); the message is then not Addressable and text is "".
func ReadMessage(body io.ReadCloser, limit int, block xml.Name) (m *Message, text string, err error) {
	sc := newXMLHeaderScanner(body, limit)
	l := &headerLayout{}
	found := false
	for sc.Next() {
		if b := sc.Block(); b.Name == block && !found {
			text, found = sc.Text() // the first such block decides, as in Synapse
		} else {
			sc.Skip()
		}
		if b := sc.Block(); isAddressingNamespace(b.Name.Space) {
			l.blocks = append(l.blocks, b)
		}
	}
	m = &Message{prefix: sc.Peeked(), rest: body}
	if err := sc.Err(); err != nil {
		return m, "", err
	}
	env := sc.Envelope()
	l.envTagStart, l.envTagEnd, l.envDecls = env.Start, env.End, nsDecls(env.Element)
	if hdr, ok := sc.Header(); ok {
		l.hasHeader, l.hdrTagStart, l.hdrTagEnd, l.hdrDecls = true, hdr.Start, hdr.End, nsDecls(hdr.Element)
	}
	m.layout = l
	return m, text, nil
}

// Body returns a body that yields the original bytes.
func (m *Message) Body() io.ReadCloser { return newReplay(m.prefix, m.rest) }

// Addressable reports whether the message is a SOAP envelope whose Header can
// be rewritten.
func (m *Message) Addressable() bool { return m.layout != nil }

// Addressed returns a body with the WS-Addressing headers h written into the
// SOAP Header (created if there is none), and how many bytes longer it is than
// the original. Everything else is the original, byte for byte. A message that
// is not Addressable comes back unchanged. Each call starts from the original
// bytes, so a retry can address the same message to another upstream.
func (m *Message) Addressed(a *Addressing, h AddressingHeaders) (body io.ReadCloser, growth int) {
	l := m.layout
	if l == nil {
		return m.Body(), 0
	}
	prefix, declared := a.prefixFor(l)
	blocks := a.blocks(prefix, h, l)
	dropped := a.dropped(l)
	if len(blocks) == 0 && len(dropped) == 0 {
		return m.Body(), 0
	}
	decl := ""
	if !declared {
		decl = ` xmlns:` + prefix + `="` + a.ns + `"`
	}

	src := m.prefix
	out := make([]byte, 0, len(src)+len(decl)+len(blocks)+64)
	switch {
	case !l.hasHeader:
		header := siblingName(rawName(src[l.envTagStart:]), "Header")
		out = append(out, src[:l.envTagEnd]...)
		out = append(out, "<"+header+decl+">"...)
		out = append(out, blocks...)
		out = append(out, "</"+header+">"...)
		out = append(out, src[l.envTagEnd:]...)
	case l.selfClosing(src):
		// <soapenv:Header/> becomes <soapenv:Header xmlns:wsa="..">blocks</soapenv:Header>
		out = append(out, src[:l.hdrTagEnd-2]...)
		out = append(out, decl+">"...)
		out = append(out, blocks...)
		out = append(out, "</"+rawName(src[l.hdrTagStart:])+">"...)
		out = append(out, src[l.hdrTagEnd:]...)
	default:
		out = append(out, src[:l.hdrTagEnd-1]...)
		out = append(out, decl+">"...)
		out = append(out, blocks...)
		from := l.hdrTagEnd
		for _, b := range dropped {
			out = append(out, src[from:b.Start]...)
			from = b.End
		}
		out = append(out, src[from:]...)
	}
	return newReplay(out, m.rest), len(out) - len(src)
}

// prefixFor picks the prefix for the written blocks: "wsa" unless the Envelope
// or the Header binds it to another namespace (declaring it on the Header
// would then change what the client's blocks mean), else wsa1, wsa2...
// declared reports that the Header already binds it to the namespace.
func (a *Addressing) prefixFor(l *headerLayout) (prefix string, declared bool) {
	for i := 0; ; i++ {
		prefix = "wsa"
		if i > 0 {
			prefix += strconv.Itoa(i)
		}
		if ns, ok := lookupDecl(l.hdrDecls, prefix); ok {
			if ns == a.ns {
				return prefix, true
			}
			continue
		}
		if ns, ok := lookupDecl(l.envDecls, prefix); !ok || ns == a.ns {
			return prefix, false
		}
	}
}

// blocks renders the header blocks to write, leaving out those the client
// sent when preserving.
func (a *Addressing) blocks(prefix string, h AddressingHeaders, l *headerLayout) []byte {
	var buf []byte
	write := func(local, text string) {
		if text == "" || (a.preserve && l.hasBlock(a.ns, local)) {
			return
		}
		buf = append(buf, "<"+prefix+":"+local+">"...)
		if local == "ReplyTo" {
			buf = append(buf, "<"+prefix+":Address>"...)
		}
		buf = AppendEscaped(buf, text)
		if local == "ReplyTo" {
			buf = append(buf, "</"+prefix+":Address>"...)
		}
		buf = append(buf, "</"+prefix+":"+local+">"...)
	}
	write("To", h.To)
	write("MessageID", h.MessageID)
	write("Action", h.Action)
	if a.replyTo {
		write("ReplyTo", submissionAnonymous)
	}
	return buf
}

// dropped returns the client's blocks that the rewrite replaces, in order.
func (a *Addressing) dropped(l *headerLayout) []headerBlock {
	if a.preserve {
		return nil
	}
	var out []headerBlock
	for _, b := range l.blocks {
		if b.Name.Space != a.ns {
			continue
		}
		for _, local := range addressingBlocks {
			if b.Name.Local == local {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// headerLayout records where the parts of a SOAP Header lie in the peeked
// bytes (offsets from the start of the body).
type headerLayout struct {
	envTagStart, envTagEnd int // the Envelope start tag
	envDecls               []nsDecl

	hasHeader              bool
	hdrTagStart, hdrTagEnd int // the Header start tag
	hdrDecls               []nsDecl

	blocks []headerBlock // the Header's WS-Addressing blocks, in order
}

// nsDecl is a namespace declaration, xmlns:prefix="ns".
type nsDecl struct{ prefix, ns string }

func isAddressingNamespace(ns string) bool {
	return ns == WSAFinalNamespace || ns == WSASubmissionNamespace
}

// selfClosing reports whether the Header was written <Header/>.
func (l *headerLayout) selfClosing(src []byte) bool {
	return l.hdrTagEnd >= 2 && src[l.hdrTagEnd-2] == '/'
}

func (l *headerLayout) hasBlock(ns, local string) bool {
	for _, b := range l.blocks {
		if b.Name.Space == ns && b.Name.Local == local {
			return true
		}
	}
	return false
}

func nsDecls(t xml.StartElement) []nsDecl {
	var decls []nsDecl
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" {
			decls = append(decls, nsDecl{prefix: a.Name.Local, ns: a.Value})
		}
	}
	return decls
}

func lookupDecl(decls []nsDecl, prefix string) (string, bool) {
	for _, d := range decls {
		if d.prefix == prefix {
			return d.ns, true
		}
	}
	return "", false
}

// rawName returns the element name as written at the start of tag ("<p:Name ...").
func rawName(tag []byte) string {
	end := bytes.IndexAny(tag, " \t\r\n/>")
	if end < 1 {
		return ""
	}
	return string(tag[1:end])
}

// siblingName returns local with the prefix of qname ("soapenv:Envelope",
// "Header" -> "soapenv:Header").
func siblingName(qname, local string) string {
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		return qname[:i+1] + local
	}
	return local
}
