package synapse

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// Namespace is Synapse's configuration namespace.
const Namespace = "http://ws.apache.org/ns/synapse"

// File is one XML document to adapt: a single artifact (proxy, api,
// sequence, endpoint) or a <definitions> holding several.
type File struct {
	Name string // for messages; may be empty
	Data []byte
}

// position is where an element starts in its file.
type position struct {
	file      string
	line, col int
}

// Error is a configuration the adapter refuses, with where it is.
type Error struct {
	File      string
	Line, Col int
	Element   string
	Message   string
}

// Error is the refusal on one line, then, on another, what to do instead.
func (e *Error) Error() string {
	where := fmt.Sprintf("line %d, column %d", e.Line, e.Col)
	if e.File != "" {
		where = e.File + ": " + where
	}
	msg := where + ": " + e.Message
	if e.Element != "" {
		msg = fmt.Sprintf("%s: <%s>: %s", where, e.Element, e.Message)
	}
	if h := e.Hint(); h != "" {
		msg += "\nhint: " + h
	}
	return msg
}

// Hint is what to do instead, from the table of hints.go; "" if it has none.
func (e *Error) Hint() string { return hintFor(e.Element, e.Message) }

// Warning is a construct adapted with a difference worth knowing, or
// ignored because it has no effect in Caddy.
type Warning struct {
	// File, Line and Col are where the construct is; File is "" (and Line
	// and Col 0) for what Synapse adds to a deployment, in no file (its
	// default main, with Options.Deployment).
	File      string
	Line, Col int
	Element   string
	Message   string
}

// document is a parsed file with the position of each of its elements.
type document struct {
	root *etree.Element
	pos  map[*etree.Element]position
}

// artifacts are the document's top-level artifacts: the children of a
// <definitions>, or the root itself.
func (d *document) artifacts() []*etree.Element {
	if d.root.Tag == "definitions" {
		return d.root.ChildElements()
	}
	return []*etree.Element{d.root}
}

// parse reads one file. encoding/xml finds where each element starts (etree
// keeps no positions); etree builds the tree; both see the elements in the
// same order, which pairs them.
func parse(f File) (*document, error) {
	data, err := toUTF8(f)
	if err != nil {
		return nil, err
	}
	f.Data = data
	starts, err := elementStarts(f)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings.CharsetReader = decoded
	if err := doc.ReadFromBytes(f.Data); err != nil {
		return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: "malformed XML: " + err.Error()}
	}
	d := &document{root: doc.Root(), pos: make(map[*etree.Element]position, len(starts))}
	if d.root == nil {
		return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: "no XML element"}
	}
	i := 0
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if i < len(starts) {
			d.pos[e] = starts[i]
		}
		i++
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(d.root)
	if i != len(starts) {
		return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: fmt.Sprintf("malformed XML: %d elements read, %d expected", i, len(starts))}
	}
	return d, nil
}

// toUTF8 is the file's data in UTF-8: as it is, or, when its XML
// declaration names another encoding, the declaration followed by the rest
// of the document decoded from that encoding. Both parsers then read the
// declared encoding through decoded, and lines and columns count the bytes
// of the decoded text.
//
// Encodings are looked up by their IANA name first (golang.org/x/text's
// ianaindex, from a module this one already requires), as XML 1.0 (section
// 4.3.3) names them and as Java, which Synapse and MI run on, reads them.
// golang.org/x/net/html/charset, also required, follows the WHATWG labels
// instead, which read ISO-8859-1, the encoding of MI's own files, as
// windows-1252; those labels serve only for names IANA does not know.
func toUTF8(f File) ([]byte, error) {
	if enc := utf16Encoding(f.Data); enc != nil {
		// The declaration, itself in UTF-16, names the encoding that the
		// first bytes already gave.
		data, err := enc.NewDecoder().Bytes(f.Data)
		if err != nil {
			return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: "the document is not in UTF-16, as its first bytes say: " + err.Error()}
		}
		return data, nil
	}
	var label string
	errDeclared := errors.New("encoding declared")
	dec := xml.NewDecoder(bytes.NewReader(f.Data))
	dec.CharsetReader = func(l string, _ io.Reader) (io.Reader, error) {
		label = l
		return nil, errDeclared
	}
	// The declaration comes before the first element (XML wants it first;
	// a blank line or a comment before it is read too). Other errors are
	// left to elementStarts, which says where they are.
	var start int64
	for {
		start = dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, errDeclared) {
			break
		}
		if _, ok := tok.(xml.StartElement); ok || err != nil {
			return f.Data, nil
		}
	}
	end := int(start) + bytes.Index(f.Data[start:], []byte("?>")) + len("?>")
	enc := encodingNamed(label)
	if enc == nil {
		return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: fmt.Sprintf("encoding %q is not supported: not a character set Go knows by that name", label)}
	}
	rest, err := enc.NewDecoder().Bytes(f.Data[end:])
	if err != nil {
		return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: fmt.Sprintf("the document is not in its declared encoding %q: %v", label, err)}
	}
	return append(f.Data[:end:end], rest...), nil
}

// utf16Encoding is UTF-16 of the byte order the document starts with, as
// XML 1.0's appendix F detects it (and Java's XML parsers, which Synapse
// reads with): a byte order mark, or "<?" in UTF-16; nil for any other start.
func utf16Encoding(data []byte) encoding.Encoding {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{'<', 0, '?', 0}):
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0, '<', 0, '?'}):
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	}
	return nil
}

// decoded is the CharsetReader of data that toUTF8 has decoded already.
func decoded(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// encodingNamed finds an encoding by its IANA name, else by its WHATWG
// label (such as utf8, which Java reads too); nil if Go knows neither.
func encodingNamed(label string) encoding.Encoding {
	if enc, err := ianaindex.IANA.Encoding(label); err == nil && enc != nil {
		return enc
	}
	enc, _ := htmlindex.Get(label)
	return enc
}

// elementStarts lists the position of every start tag, in document order, and
// reports malformed XML with its line and column.
func elementStarts(f File) ([]position, error) {
	dec := xml.NewDecoder(bytes.NewReader(f.Data))
	dec.Strict = true
	dec.CharsetReader = decoded
	// Token, unlike RawToken, checks that end tags match their start tags.
	var starts []position
	lc := lineCounter{data: f.Data}
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(starts) == 0 {
				return nil, &Error{File: f.Name, Line: 1, Col: 1, Message: "no XML element"}
			}
			return starts, nil
		}
		if err != nil {
			line, col := lc.at(dec.InputOffset())
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				err = errors.New(se.Msg)
			}
			return nil, &Error{File: f.Name, Line: line, Col: col, Message: "malformed XML: " + err.Error()}
		}
		if _, ok := tok.(xml.StartElement); ok {
			line, col := lc.at(off)
			starts = append(starts, position{file: f.Name, line: line, col: col})
		}
	}
}

// lineCounter turns byte offsets, asked in increasing order, into 1-based
// lines and columns (columns count bytes).
type lineCounter struct {
	data      []byte
	off       int
	line      int
	lineStart int
}

func (c *lineCounter) at(off int64) (line, col int) {
	if c.line == 0 {
		c.line = 1
	}
	end := min(int(off), len(c.data))
	for ; c.off < end; c.off++ {
		if c.data[c.off] == '\n' {
			c.line++
			c.lineStart = c.off + 1
		}
	}
	return c.line, end - c.lineStart + 1
}
