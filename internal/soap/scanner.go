package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// Why a scan stopped before the end of the Header, besides malformed XML (any
// other error).
var (
	// ErrNotSOAP: well-formed so far, but the root is no SOAP envelope.
	ErrNotSOAP = errors.New("not a SOAP envelope")
	// ErrOverLimit: the Header did not end within the peek limit.
	ErrOverLimit = errors.New("peek limit reached")
)

// ReadError is a failure of reading the body itself, as opposed to bad XML.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "reading request body: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// elementTag is a start tag as read: the element, and where its tag lies in the
// peeked bytes, [Start, End).
type elementTag struct {
	Element    xml.StartElement
	Start, End int
}

// headerBlock is a header block: its name, and where it lies in the peeked bytes,
// [Start, End). End is known once the block has been read to its end.
type headerBlock struct {
	Name       xml.Name
	Start, End int
}

// xmlHeaderScanner reads a SOAP envelope from a body with encoding/xml, as a
// stream, block by block of its Header, and never further than needed: it
// stops at the end of the Header, or at the start of the element that comes
// instead of one (the Body), and never reads more than its limit. It keeps
// every byte it read, so that the body can be put back together (newReplay).
// Encodings other than UTF-8 are not decoded and read as malformed (but see
// newBodyScanner).
//
// It reads what fastBlockScanner, which every request's peek tries first,
// does not: the whole Header with where each block lies, for the
// WS-Addressing rewrite (ReadMessage); encoded and MTOM bodies and responses
// (newBodyScanner); declared ASCII-compatible charsets, and whatever else
// fastBlockScanner leaves to encoding/xml (peekPlainBlock).
//
//	sc := newXMLHeaderScanner(body, limit)
//	for sc.Next() {
//		if sc.Block().Name == want {
//			text, ok := sc.Text()
//			...
//		}
//	}
//	if sc.Err() != nil { ... }
type xmlHeaderScanner struct {
	peek  peekReader
	dec   *xml.Decoder
	depth int

	envelope, header elementTag
	hasHeader        bool

	block   headerBlock
	inBlock bool // the current block's start has been read, not its end
	done    bool // the Header ended, or the envelope has none
	err     error

	// raw, if set, keeps the bytes read from the body when the envelope is
	// decoded from them (newBodyScanner); peek then keeps the decoded ones.
	raw *peekReader
}

// firstPeekChunk is the first read from the body: room for a Header that
// holds a ClientID and WS-Addressing's blocks, so that most scans read once,
// and small enough that the allocation holding it costs little to clear and
// to collect (at 4 KB it was half the peek's time). A larger Header grows it
// by doubling.
const firstPeekChunk = 1 << 10

// newXMLHeaderScanner returns a scanner of body that reads at most limit bytes.
func newXMLHeaderScanner(body io.Reader, limit int) *xmlHeaderScanner {
	s := &xmlHeaderScanner{peek: peekReader{src: body, limit: limit}}
	s.dec = xml.NewDecoder(&s.peek)
	return s
}

// Next advances to the next block of the Header, reading past the rest of the
// current one. It returns false at the end of the Header, when the envelope
// has none, and on error (see Err).
func (s *xmlHeaderScanner) Next() bool {
	if s.inBlock {
		s.finishBlock(false)
	}
	for !s.done && s.err == nil {
		start := s.dec.InputOffset()
		tok, err := s.dec.Token()
		if err != nil {
			s.err = err
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.depth++
			tag := elementTag{Element: t, Start: int(start), End: int(s.dec.InputOffset())}
			switch {
			case s.depth == 1:
				if t.Name.Local != "Envelope" || !isEnvelopeNamespace(t.Name.Space) {
					s.err = ErrNotSOAP
					return false
				}
				s.envelope = tag
			case s.depth == 2:
				if t.Name.Space != s.envelope.Element.Name.Space || t.Name.Local != "Header" {
					s.done = true // the Body (or anything else) comes first: no Header
					return false
				}
				s.header, s.hasHeader = tag, true
			case s.depth == 3:
				s.block, s.inBlock = headerBlock{Name: t.Name, Start: int(start)}, true
				return true
			}
		case xml.EndElement:
			s.depth--
			if s.depth == 1 && s.hasHeader {
				s.done = true
				return false
			}
		}
	}
	return false
}

// Block returns the current block.
func (s *xmlHeaderScanner) Block() headerBlock { return s.block }

// Text reads the current block to its end and returns its text (the character
// data directly in it, not in its children); ok is false on error.
func (s *xmlHeaderScanner) Text() (text string, ok bool) {
	b, ok := s.finishBlock(true)
	return string(b), ok
}

// Skip reads the current block to its end.
func (s *xmlHeaderScanner) Skip() { s.finishBlock(false) }

func (s *xmlHeaderScanner) finishBlock(collect bool) (text []byte, ok bool) {
	for s.inBlock {
		tok, err := s.dec.Token()
		if err != nil {
			s.err, s.inBlock = err, false
			return nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.depth++
		case xml.CharData:
			if collect && s.depth == 3 {
				text = append(text, t...)
			}
		case xml.EndElement:
			if s.depth == 3 {
				s.block.End, s.inBlock = int(s.dec.InputOffset()), false
			}
			s.depth--
		}
	}
	return text, s.err == nil
}

// Err returns why the scan stopped before the end of the Header: ErrNotSOAP,
// ErrOverLimit, a *ReadError, or malformed XML (any other error); nil when
// the Header was read to its end, or the envelope has none.
func (s *xmlHeaderScanner) Err() error { return s.err }

// Envelope returns the Envelope's start tag.
func (s *xmlHeaderScanner) Envelope() elementTag { return s.envelope }

// Header returns the Header's start tag, if the envelope has a Header.
func (s *xmlHeaderScanner) Header() (elementTag, bool) { return s.header, s.hasHeader }

// Peeked returns the bytes read from the body so far.
func (s *xmlHeaderScanner) Peeked() []byte {
	if s.raw != nil {
		return s.raw.buf
	}
	return s.peek.buf
}

// peekReader feeds the XML decoder from the body while keeping every byte it
// read, so that they can be replayed. Being an io.ByteReader, it spares the
// decoder its own bufio buffer, so buf is the only copy.
type peekReader struct {
	src   io.Reader
	buf   []byte
	pos   int
	limit int
	err   error
}

func (p *peekReader) ReadByte() (byte, error) {
	if p.pos == len(p.buf) {
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	b := p.buf[p.pos]
	p.pos++
	return b, nil
}

func (p *peekReader) Read(out []byte) (int, error) {
	if p.pos == len(p.buf) {
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(out, p.buf[p.pos:])
	p.pos += n
	return n, nil
}

// fill reads more of the body into buf, never beyond the limit.
func (p *peekReader) fill() error {
	if p.err != nil {
		return p.err
	}
	if len(p.buf) >= p.limit {
		p.err = ErrOverLimit
		return p.err
	}
	if len(p.buf) == cap(p.buf) {
		grown := make([]byte, len(p.buf), min(max(2*cap(p.buf), firstPeekChunk), p.limit))
		copy(grown, p.buf)
		p.buf = grown
	}
	for {
		n, err := p.src.Read(p.buf[len(p.buf):cap(p.buf)])
		p.buf = p.buf[:len(p.buf)+n]
		switch {
		case n > 0:
			return nil
		case err == io.EOF:
			p.err = io.EOF
			return p.err
		case err != nil:
			p.err = &ReadError{err}
			return p.err
		}
	}
}

// replayOf is newReplay for a body of length bytes (-1 when not known). When
// prefix is all of them, it returns prefix alone, as Caddy's own
// request_buffers hands a whole body to the transport: an io.NopCloser of a
// *bytes.Reader, which net/http's transport knows is in memory, so that it
// writes the request's headers and body to the upstream in one write instead
// of flushing the headers first (golang.org/issue/22088). The original is
// left for the HTTP server to close, as it does when the handler returns; a
// retry that finds the bytes partly sent fails on the length, as one that
// finds the original closed does.
func replayOf(prefix []byte, rest io.ReadCloser, length int64) io.ReadCloser {
	if readWhole(prefix, length) {
		return io.NopCloser(bytes.NewReader(prefix))
	}
	return newReplay(prefix, rest)
}

// readWhole reports whether a scan that read prefix read all length bytes of
// its body. A body of unknown length (-1) never counts as read whole: without
// a length to check, a retry could send what is left of it as if complete.
func readWhole(prefix []byte, length int64) bool {
	return length > 0 && int64(len(prefix)) == length
}

// newReplay returns a body that yields prefix (the bytes a scan read from rest),
// then the rest of rest. Until any byte has been read from it, Close leaves
// rest open: the HTTP transport closes request bodies on dial errors, and
// Caddy retries such requests with the same body.
func newReplay(prefix []byte, rest io.ReadCloser) io.ReadCloser {
	return &replayBody{prefix: prefix, rest: rest}
}

type replayBody struct {
	prefix  []byte
	rest    io.ReadCloser
	started bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		b.started = b.started || n > 0
		return n, nil
	}
	n, err := b.rest.Read(p)
	if n > 0 {
		b.started = true
	}
	return n, err
}

func (b *replayBody) Close() error {
	if !b.started {
		return nil
	}
	return b.rest.Close()
}
