package sessionaffinity

import (
	"encoding/xml"
	"errors"
	"io"
)

// SOAP envelope namespaces.
const (
	SOAP11Namespace = "http://schemas.xmlsoap.org/soap/envelope/"
	SOAP12Namespace = "http://www.w3.org/2003/05/soap-envelope"
)

// PeekOutcome says what a look into a SOAP body found.
type PeekOutcome int

const (
	// PeekFound: the configured header block held a usable id.
	PeekFound PeekOutcome = iota
	// PeekNoID: a SOAP envelope whose Header (if any) has no usable id.
	PeekNoID
	// PeekNotSOAP: well-formed so far, but the root is no SOAP envelope.
	PeekNotSOAP
	// PeekMalformed: the XML broke (or ended) before the Header was read; this
	// includes encodings other than UTF-8, which are not decoded.
	PeekMalformed
	// PeekOverLimit: the Header did not end within the peek limit.
	PeekOverLimit
	// PeekReadError: reading the request body failed.
	PeekReadError
)

var peekOutcomeNames = [...]string{"found", "no_id", "not_soap", "malformed", "over_limit", "read_error"}

func (o PeekOutcome) String() string {
	if int(o) < len(peekOutcomeNames) {
		return peekOutcomeNames[o]
	}
	return "unknown"
}

// firstPeekChunk is the first read from the body: enough for a typical SOAP
// Header, so that most peeks read once.
const firstPeekChunk = 4 << 10

var errOverLimit = errors.New("peek limit reached")

// PeekSOAP reads body only as far as needed to find the session id in the
// SOAP Header (it stops at the end of the Header or the start of the Body) and
// never more than the peek limit. It returns a body that yields exactly the
// bytes of the original, read or not, and that does not close the original
// until something of it has been read (so a retry after a dial error still has
// the whole body). The caller must use replay in place of body.
func (s *IDSource) PeekSOAP(body io.ReadCloser) (id string, outcome PeekOutcome, replay io.ReadCloser) {
	// One allocation for the reader, the replay and the first chunk.
	p := &peek{}
	p.reader = peekReader{src: body, limit: s.peekLimit, buf: p.first[:0:min(s.peekLimit, firstPeekChunk)]}
	id, outcome = s.peekHeader(&p.reader)
	p.replay = replayBody{prefix: p.reader.buf, rest: body}
	return id, outcome, &p.replay
}

type peek struct {
	reader peekReader
	replay replayBody
	first  [firstPeekChunk]byte
}

// peekHeader reads as much of the body as headerScanner needs, and asks
// encoding/xml (from the first byte again) when the scanner cannot answer.
func (s *IDSource) peekHeader(pr *peekReader) (string, PeekOutcome) {
	sc := headerScanner{want: s.soapHeader}
	for range scanMaxResumes {
		if pr.fill() != nil {
			break // the end, the limit or a read error: encoding/xml meets it too
		}
		switch sc.scan(pr.buf) {
		case scanDone:
			return s.scanned(&sc, pr.buf)
		case scanOdd:
			pr.pos = 0
			return s.scanHeader(xml.NewDecoder(pr), nil)
		}
	}
	pr.pos = 0
	return s.scanHeader(xml.NewDecoder(pr), nil)
}

// scanned turns the scanner's answer into the session id and outcome.
func (s *IDSource) scanned(sc *headerScanner, buf []byte) (string, PeekOutcome) {
	switch sc.result {
	case foundBlock:
		id := s.usableBytes(sc.Text(buf))
		return id, idOutcome(id)
	case notSOAP:
		return "", PeekNotSOAP
	default:
		return "", PeekNoID
	}
}

// scanHeader reads the envelope up to the end of its Header (or the start of
// the element that comes instead of one). Without a layout to fill it stops as
// soon as the session id block ends; with one it reads the whole Header and
// records where its parts lie, for a rewrite.
func (s *IDSource) scanHeader(dec *xml.Decoder, layout *headerLayout) (string, PeekOutcome) {
	var (
		depth      int
		envelopeNS string
		inHeader   bool
		inBlock    bool
		idBlockEnd bool // the first session id block has been read: it decides
		id         string
		text       []byte
	)
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", classifyPeekError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "Envelope" || (t.Name.Space != SOAP11Namespace && t.Name.Space != SOAP12Namespace) {
					return "", PeekNotSOAP
				}
				envelopeNS = t.Name.Space
				layout.envelope(t, int(start), int(dec.InputOffset()))
			case depth == 2:
				if t.Name.Space != envelopeNS || t.Name.Local != "Header" {
					layout.noHeader()
					return "", PeekNoID // the Body (or anything else) comes first: no Header
				}
				inHeader = true
				layout.header(t, int(start), int(dec.InputOffset()))
			case depth == 3 && inHeader:
				inBlock = !idBlockEnd && t.Name == s.soapHeader
				layout.blockStart(t.Name, int(start))
			}
		case xml.CharData:
			if inBlock && depth == 3 {
				text = append(text, t...)
			}
		case xml.EndElement:
			if inBlock && depth == 3 {
				// The first matching block decides, as in Synapse.
				inBlock, idBlockEnd, id = false, true, s.usable(string(text))
				if layout == nil {
					return id, idOutcome(id)
				}
			}
			if depth == 3 {
				layout.blockEnd(int(dec.InputOffset()))
			}
			depth--
			if depth == 1 && inHeader {
				layout.headerEnd()
				return id, idOutcome(id)
			}
		}
	}
}

func idOutcome(id string) PeekOutcome {
	if id != "" {
		return PeekFound
	}
	return PeekNoID
}

func classifyPeekError(err error) PeekOutcome {
	var readErr *bodyReadError
	switch {
	case errors.Is(err, errOverLimit):
		return PeekOverLimit
	case errors.As(err, &readErr):
		return PeekReadError
	default:
		return PeekMalformed
	}
}

// bodyReadError marks a failure of the request body itself, as opposed to bad XML.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "reading request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

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
		p.err = errOverLimit
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
			p.err = &bodyReadError{err}
			return p.err
		}
	}
}

// replayBody yields the peeked prefix, then the rest of the original body.
// Until any byte has been read from it, Close leaves the original open: the
// HTTP transport closes request bodies on dial errors, and Caddy retries such
// requests with the same body.
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
