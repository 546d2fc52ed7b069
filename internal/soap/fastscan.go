package soap

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"unicode/utf8"
)

// fastBlockScanner finds the first SOAP Header block of a name (the session id
// block) without encoding/xml, for the peek of every request whose body is its
// envelope as it stands (peekPlainBlock): a tokenizer for exactly what a SOAP Header
// needs (elements, attributes, namespace declarations, text with the
// predefined and numeric entities, CDATA, comments, an XML declaration) that
// works in place on the peeked bytes and allocates nothing. It stops at the
// end of the block, of the Header, or at the start of the element that comes
// instead of one (the Body). It answers only when the answer is certain to be
// encoding/xml's (FuzzFastScannerMatchesEncodingXML checks this on random
// input, fed in random pieces); on anything else (a DOCTYPE, a processing
// instruction, an unknown entity, an unbound prefix, a name that is not
// ASCII, bad XML, a read error, the peek limit) it says so, and the caller
// asks encoding/xml (xmlHeaderScanner), which reads the same bytes again.
//
// It scans whole tokens: when the bytes end inside one it reports scanMore,
// and resumes at the start of that token once more bytes are there.
type fastBlockScanner struct {
	want  xml.Name // the header block to find
	pos   int      // start of the next token
	depth int      // open elements
	// names are the raw names of the open elements, to match end tags.
	names [scanMaxDepth]span
	ns    [scanMaxNS]nsBinding
	nns   int
	// the envelope's namespace, once seen
	soap     string
	inHeader bool
	inBlock  bool
	// The id block's text: one raw span while it is a single piece without
	// entities or line breaks to normalise, else decoded into text.
	raw     span
	pieces  int
	decoded bool
	text    []byte
	// The answer, once scan returns scanDone.
	result scanResult
}

// scanResult is what a scan found.
type scanResult uint8

const (
	foundBlock scanResult = iota // the first block named want; Text is its text
	noBlock                      // an envelope without such a block in its Header (or without a Header)
	notSOAP                      // the root is no SOAP envelope
)

type span struct{ start, end int }

// nsBinding is a namespace declaration in scope: prefix (empty for the
// default namespace) and URI, as spans of the buffer.
type nsBinding struct {
	prefix, uri span
	depth       int
}

type scanStatus uint8

const (
	scanOn   scanStatus = iota // a token was read: go on
	scanDone                   // the answer (result) is certain
	scanMore                   // the bytes end inside a token
	scanOdd                    // ask encoding/xml
)

// Bounds beyond which the scanner hands over to encoding/xml.
const (
	scanMaxDepth = 32
	scanMaxNS    = 16
	// scanMaxResumes bounds the tokens scanned again after a read that ended
	// inside them, so that a body trickling in byte by byte costs linear time.
	scanMaxResumes = 32
)

func (b span) in(buf []byte) []byte { return buf[b.start:b.end] }

// scan goes on from s.pos over buf, the bytes peeked so far.
func (s *fastBlockScanner) scan(buf []byte) scanStatus {
	for s.pos < len(buf) {
		var (
			next int
			st   scanStatus
		)
		if buf[s.pos] != '<' {
			next, st = s.charData(buf)
		} else {
			next, st = s.markup(buf)
		}
		if st != scanOn {
			return st
		}
		s.pos = next
	}
	return scanMore
}

// Text returns the found block's text: the character data directly in it,
// entities decoded and line breaks normalised as encoding/xml does. It may
// share memory with buf.
func (s *fastBlockScanner) Text(buf []byte) []byte {
	if s.decoded {
		return s.text
	}
	return s.raw.in(buf)
}

// done records the answer.
func (s *fastBlockScanner) done(r scanResult) (int, scanStatus) {
	s.result = r
	return 0, scanDone
}

// charData handles the text from s.pos to the next '<'.
func (s *fastBlockScanner) charData(buf []byte) (next int, st scanStatus) {
	end := bytes.IndexByte(buf[s.pos:], '<')
	if end < 0 {
		return 0, scanMore
	}
	end += s.pos
	text := buf[s.pos:end]
	if s.depth == 0 {
		if len(bytes.Trim(text, " \t\r\n")) > 0 {
			return 0, scanOdd
		}
		return end, scanOn
	}
	plain, ok := checkText(text, false)
	if !ok {
		return 0, scanOdd
	}
	if s.inBlock && s.depth == 3 {
		s.addText(buf, span{s.pos, end}, plain, false)
	}
	return end, scanOn
}

// markup handles the tag, comment, CDATA section or declaration at s.pos.
func (s *fastBlockScanner) markup(buf []byte) (next int, st scanStatus) {
	rest := buf[s.pos:]
	if len(rest) < 2 {
		return 0, scanMore
	}
	switch rest[1] {
	case '/':
		return s.endTag(buf)
	case '!':
		return s.special(buf)
	case '?':
		return s.declaration(buf)
	default:
		return s.startTag(buf)
	}
}

// special handles a comment or a CDATA section; anything else that starts
// with "<!" (a DOCTYPE above all) is odd.
func (s *fastBlockScanner) special(buf []byte) (int, scanStatus) {
	rest := buf[s.pos:]
	const comment, cdata = "<!--", "<![CDATA["
	switch {
	case len(rest) < len(cdata) && (bytes.HasPrefix([]byte(cdata), rest) || bytes.HasPrefix([]byte(comment), rest)):
		return 0, scanMore
	case bytes.HasPrefix(rest, []byte(comment)):
		// As encoding/xml: the first "--" must end the comment.
		i := bytes.Index(rest[len(comment):], []byte("--"))
		if i < 0 || len(rest) < len(comment)+i+3 {
			return 0, scanMore
		}
		if end := len(comment) + i + 2; rest[end] == '>' {
			return s.pos + end + 1, scanOn
		}
		return 0, scanOdd
	case bytes.HasPrefix(rest, []byte(cdata)) && s.depth > 0:
		i := bytes.Index(rest[len(cdata):], []byte("]]>"))
		if i < 0 {
			return 0, scanMore
		}
		start := s.pos + len(cdata)
		plain, ok := checkText(buf[start:start+i], true)
		if !ok {
			return 0, scanOdd
		}
		if s.inBlock && s.depth == 3 {
			s.addText(buf, span{start, start + i}, plain, true)
		}
		return start + i + 3, scanOn
	}
	return 0, scanOdd
}

// declaration handles the XML declaration at the very start, when it says
// no more than version 1.0, encoding UTF-8 and standalone; any other
// processing instruction is odd.
func (s *fastBlockScanner) declaration(buf []byte) (int, scanStatus) {
	rest := buf[s.pos:]
	const decl = "<?xml "
	if s.pos != 0 || len(rest) < len(decl) {
		if s.pos == 0 && bytes.HasPrefix([]byte(decl), rest) {
			return 0, scanMore
		}
		return 0, scanOdd
	}
	if !bytes.HasPrefix(rest, []byte(decl)) {
		return 0, scanOdd
	}
	end := bytes.Index(rest, []byte("?>"))
	if end < 0 {
		return 0, scanMore
	}
	for f := range bytes.FieldsSeq(rest[len(decl):end]) {
		key, val, ok := bytes.Cut(f, []byte("="))
		if !ok || len(val) < 2 || (val[0] != '"' && val[0] != '\'') || val[len(val)-1] != val[0] {
			return 0, scanOdd
		}
		val = val[1 : len(val)-1]
		switch string(key) {
		case "version":
			ok = string(val) == "1.0"
		case "encoding":
			ok = bytes.EqualFold(val, []byte("utf-8"))
		case "standalone":
			ok = string(val) == "yes" || string(val) == "no"
		default:
			ok = false
		}
		if !ok {
			return 0, scanOdd
		}
	}
	return s.pos + end + 2, scanOn
}

// startTag handles a start tag (or an empty-element tag, a start and an end).
func (s *fastBlockScanner) startTag(buf []byte) (next int, st scanStatus) {
	name, i, st := scanName(buf, s.pos+1)
	if st != scanOn {
		return 0, st
	}
	// The tag's namespace declarations go straight onto the stack, scoped to
	// the depth the element will have; a tag that ends before its '>' takes
	// them off again, since it is scanned anew once more bytes are there.
	outer := s.nns
	empty := false
	for {
		i = skipSpace(buf, i)
		if i >= len(buf) {
			s.nns = outer
			return 0, scanMore
		}
		if c := buf[i]; c == '>' || c == '/' {
			if c == '/' {
				if i+1 >= len(buf) {
					s.nns = outer
					return 0, scanMore
				}
				if buf[i+1] != '>' {
					return 0, scanOdd
				}
				empty, i = true, i+1
			}
			i++
			break
		}
		if i, st = s.attribute(buf, i); st != scanOn {
			s.nns = outer
			return 0, st
		}
	}

	if s.depth == scanMaxDepth {
		return 0, scanOdd
	}
	s.depth++
	s.names[s.depth-1] = name
	space, local, ok := s.resolve(buf, name)
	if !ok {
		return 0, scanOdd
	}
	switch {
	case s.depth == 1:
		switch {
		case string(local) != "Envelope":
			return s.done(notSOAP)
		case string(space) == Namespace11:
			s.soap = Namespace11
		case string(space) == Namespace12:
			s.soap = Namespace12
		default:
			return s.done(notSOAP)
		}
	case s.depth == 2:
		if string(space) != s.soap || string(local) != "Header" {
			return s.done(noBlock) // the Body (or anything else) comes first: no Header
		}
		s.inHeader = true
	case s.depth == 3 && s.inHeader:
		s.inBlock = string(space) == s.want.Space && string(local) == s.want.Local
	}
	if empty {
		return s.end(i)
	}
	return i, scanOn
}

// attribute reads the attribute at i of a start tag and returns where what
// follows it starts; a namespace declaration is pushed for the element's
// depth (one more than now).
func (s *fastBlockScanner) attribute(buf []byte, i int) (next int, st scanStatus) {
	attr, j, st := scanName(buf, i)
	if st != scanOn {
		return 0, st
	}
	if j = skipSpace(buf, j); j >= len(buf) {
		return 0, scanMore
	}
	if buf[j] != '=' {
		return 0, scanOdd
	}
	if j = skipSpace(buf, j+1); j >= len(buf) {
		return 0, scanMore
	}
	q := buf[j]
	if q != '"' && q != '\'' {
		return 0, scanOdd
	}
	end := bytes.IndexByte(buf[j+1:], q)
	if end < 0 {
		return 0, scanMore
	}
	value := span{j + 1, j + 1 + end}
	plain, ok := checkText(value.in(buf), false)
	if !ok || bytes.IndexByte(value.in(buf), '<') >= 0 {
		return 0, scanOdd
	}
	if prefix, isDecl, ok := nsDeclaration(buf, attr); isDecl {
		// Declared URIs are used as written: leave any escapes or line
		// breaks in them to encoding/xml.
		if !ok || !plain || s.nns == scanMaxNS {
			return 0, scanOdd
		}
		s.ns[s.nns] = nsBinding{prefix: prefix, uri: value, depth: s.depth + 1}
		s.nns++
	}
	return value.end + 1, scanOn
}

// endTag handles an end tag, which must close the innermost open element.
func (s *fastBlockScanner) endTag(buf []byte) (next int, st scanStatus) {
	name, i, st := scanName(buf, s.pos+2)
	if st != scanOn {
		return 0, st
	}
	if i = skipSpace(buf, i); i >= len(buf) {
		return 0, scanMore
	}
	if buf[i] != '>' || s.depth == 0 || !bytes.Equal(name.in(buf), s.names[s.depth-1].in(buf)) {
		return 0, scanOdd
	}
	return s.end(i + 1)
}

// end closes the innermost element, as xmlHeaderScanner does with an end
// element.
func (s *fastBlockScanner) end(next int) (int, scanStatus) {
	if s.inBlock && s.depth == 3 {
		return s.done(foundBlock) // the first matching block decides, as in Synapse
	}
	for s.nns > 0 && s.ns[s.nns-1].depth == s.depth {
		s.nns--
	}
	s.depth--
	switch {
	case s.depth == 1 && s.inHeader:
		return s.done(noBlock)
	case s.depth == 0:
		return 0, scanOdd // an empty envelope: what follows decides
	}
	return next, scanOn
}

// resolve returns the namespace and local part of an element name, or false
// where encoding/xml's answer would be unusual (an unbound prefix, the
// reserved xml and xmlns prefixes).
func (s *fastBlockScanner) resolve(buf []byte, name span) (space, local []byte, ok bool) {
	raw := name.in(buf)
	prefix, loc, prefixed := bytes.Cut(raw, []byte(":"))
	if !prefixed {
		prefix, loc = nil, raw
	}
	if string(prefix) == "xml" || string(prefix) == "xmlns" || (!prefixed && string(raw) == "xmlns") {
		return nil, nil, false
	}
	for i := s.nns - 1; i >= 0; i-- {
		if b := s.ns[i]; bytes.Equal(b.prefix.in(buf), prefix) {
			return b.uri.in(buf), loc, true
		}
	}
	return nil, loc, !prefixed
}

// nsDeclaration tells whether the attribute name is a namespace declaration
// (xmlns or xmlns:p) and returns the prefix it declares; ok is false for a
// declaration of a reserved prefix.
func nsDeclaration(buf []byte, attr span) (prefix span, isDecl, ok bool) {
	raw := attr.in(buf)
	if string(raw) == "xmlns" {
		return span{attr.end, attr.end}, true, true
	}
	const decl = "xmlns:"
	if !bytes.HasPrefix(raw, []byte(decl)) {
		return span{}, false, false
	}
	p := raw[len(decl):]
	return span{attr.start + len(decl), attr.end}, true, string(p) != "xml" && string(p) != "xmlns"
}

// scanName reads an ASCII XML name at i, with at most one colon, which may
// not start or end it; anything else is odd.
func scanName(buf []byte, i int) (name span, next int, st scanStatus) {
	j, colons := i, 0
	for ; j < len(buf) && nameByte[buf[j]]; j++ {
		if buf[j] == ':' {
			colons++
		}
	}
	if j == len(buf) {
		return span{}, 0, scanMore
	}
	raw := buf[i:j]
	if buf[j] >= utf8.RuneSelf || len(raw) == 0 || !isNameStart(raw[0]) || colons > 1 || raw[len(raw)-1] == ':' {
		return span{}, 0, scanOdd
	}
	return span{i, j}, j, scanOn
}

func isNameStart(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' }

// nameByte marks the bytes of the names scanName reads.
var nameByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isNameStart(byte(c)) || '0' <= c && c <= '9' || c == ':' || c == '.' || c == '-'
	}
	return t
}()

func skipSpace(buf []byte, i int) int {
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n') {
		i++
	}
	return i
}

// checkText checks character data (or, with cdata, a CDATA section's
// content) as encoding/xml does: valid UTF-8, characters XML allows, only the
// predefined and numeric entities, no "]]>" outside CDATA. plain reports that
// it needs no decoding (no entity, no carriage return). ok is false for
// anything encoding/xml would reject, or that this scanner leaves to it.
func checkText(text []byte, cdata bool) (plain, ok bool) {
	plain = true
	for i := 0; i < len(text); {
		c := text[i]
		if ordinaryText[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(text[i:])
			if r == utf8.RuneError && size == 1 || !isInCharacterRange(r) {
				return false, false
			}
			i += size
			continue
		}
		switch {
		case c == '\r':
			plain = false
		case c < 0x20 && c != '\t' && c != '\n':
			return false, false
		case c == '&' && !cdata:
			_, n := entity(text[i:])
			if n == 0 {
				return false, false
			}
			plain = false
			i += n
			continue
		case c == ']' && !cdata && bytes.HasPrefix(text[i:], []byte("]]>")):
			return false, false
		}
		i++
	}
	return plain, true
}

// ordinaryText marks the bytes that checkText passes without a second look:
// the printable ASCII characters but '&' and ']', tab and line feed.
var ordinaryText = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '&' && c != ']'
	}
	t['\t'], t['\n'] = true, true
	return t
}()

// entity decodes the entity reference at the start of text and returns the
// character and the reference's length, or 0 for one this scanner leaves to
// encoding/xml.
func entity(text []byte) (rune, int) {
	end := bytes.IndexByte(text, ';')
	if end < 2 {
		return 0, 0
	}
	name := text[1:end]
	switch string(name) {
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "amp":
		return '&', end + 1
	case "apos":
		return '\'', end + 1
	case "quot":
		return '"', end + 1
	}
	if name[0] != '#' {
		return 0, 0
	}
	digits, base := name[1:], 10
	if len(digits) > 0 && digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, 0
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || n > utf8.MaxRune || !isInCharacterRange(rune(n)) || n >= 0xD800 && n <= 0xDFFF {
		return 0, 0
	}
	return rune(n), end + 1
}

func isInCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// addText adds a piece of the id block's text, checked already.
func (s *fastBlockScanner) addText(buf []byte, piece span, plain, cdata bool) {
	s.pieces++
	if s.pieces == 1 && plain {
		s.raw = piece
		return
	}
	if !s.decoded {
		s.decoded = true
		s.text = append(s.text[:0], s.raw.in(buf)...)
	}
	s.text = appendDecoded(s.text, piece.in(buf), cdata)
}

// appendDecoded appends checked text with its entities (unless cdata)
// replaced and its line breaks normalised to "\n", as encoding/xml does.
func appendDecoded(dst, text []byte, cdata bool) []byte {
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\r':
			dst = append(dst, '\n')
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
		case c == '&' && !cdata:
			r, n := entity(text[i:])
			dst = utf8.AppendRune(dst, r)
			i += n - 1
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
