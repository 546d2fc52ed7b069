package soap

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
)

// A SOAP stack may send its envelope compressed (Content-Encoding gzip or
// deflate) or as the root part of an MTOM/XOP multipart/related message.
// newBodyScanner reaches the envelope through both, reading the body no
// further than the scan needs.

// CarriesEnvelope reports whether a body with this Content-Type may carry a
// SOAP envelope: an XML type (IsXMLContentType), or MTOM/XOP
// (multipart/related; type="application/xop+xml").
func CarriesEnvelope(contentType string) bool {
	return IsXMLContentType(contentType) || isMTOM(contentType)
}

func isMTOM(contentType string) bool {
	if !strings.EqualFold(bareMediaType(contentType), "multipart/related") {
		return false
	}
	_, params, err := mime.ParseMediaType(contentType)
	return err == nil && strings.EqualFold(params["type"], "application/xop+xml")
}

// errEncoding: the body's Content-Encoding is none that the scanner reads.
var errEncoding = errors.New("unsupported content encoding")

// newBodyScanner returns a scanner of the SOAP envelope in body, a message
// with the given Content-Type and Content-Encoding headers: an XML body as
// it is, a gzip or deflate (zlib, or raw as some clients send it) body
// inflated, and of an MTOM message the root part (named by the start
// parameter, else the first). limit bounds both the bytes read from body and
// the bytes inflated from them, so a decompression bomb costs at most limit.
// Peeked returns the bytes read from body, as they came: newReplay puts them
// back.
//
// Unlike newXMLHeaderScanner's, its scan reads an XML declaration that names
// an ASCII-compatible alias of UTF-8 (see charsetReader). A scan for a session
// id may; a rewrite of the Header may not, since it would write UTF-8 into a
// body declared otherwise.
func newBodyScanner(body io.Reader, contentType, contentEncoding string, limit int) *xmlHeaderScanner {
	var s *xmlHeaderScanner
	if plain(contentType, contentEncoding) {
		s = newXMLHeaderScanner(body, limit)
	} else {
		raw := &peekReader{src: body, limit: limit}
		envelope, err := openEnvelope(raw, contentType, strings.ToLower(strings.TrimSpace(contentEncoding)))
		if err != nil {
			envelope = errReader{err}
		}
		s = newXMLHeaderScanner(envelope, limit)
		s.raw = raw
	}
	s.dec.CharsetReader = charsetReader
	return s
}

// PeekBlock reads body, of length bytes (-1 when not known) with the given
// Content-Type and Content-Encoding headers, only as far as needed to find the
// first block of the SOAP Header named name (it stops at the end of that
// block, of the Header, or at the start of the element that comes instead of
// one) and never more than limit bytes; an encoded or MTOM body is read as
// newBodyScanner reads it, limit bounding the bytes inflated too. It returns
// the block's text (the character data directly in it; nil and found false
// when there is none), and a body that yields exactly the bytes of the
// original, as they came (see newReplay and replayOf), to use in its place. err
// is as xmlHeaderScanner.Err says: ErrNotSOAP, ErrOverLimit, a *ReadError, or
// malformed XML. text may share memory with the replayed bytes: copy what you
// keep.
func PeekBlock(body io.ReadCloser, length int64, contentType, contentEncoding string, limit int, name xml.Name) (text []byte, found bool, replay io.ReadCloser, err error) {
	if plain(contentType, contentEncoding) {
		return peekPlainBlock(body, length, limit, name)
	}
	sc := newBodyScanner(body, contentType, contentEncoding, limit)
	for sc.Next() {
		if sc.Block().Name != name {
			continue
		}
		if t, ok := sc.Text(); ok {
			return []byte(t), true, replayOf(sc.Peeked(), body, length), nil
		}
	}
	return nil, false, replayOf(sc.Peeked(), body, length), sc.Err()
}

// plain reports whether a body is its envelope as it stands: not encoded,
// not MTOM.
func plain(contentType, contentEncoding string) bool {
	encoding := strings.TrimSpace(contentEncoding)
	return (encoding == "" || strings.EqualFold(encoding, "identity")) && !isMTOM(contentType)
}

// openEnvelope layers the decoders that lead from raw to the envelope.
func openEnvelope(raw *peekReader, contentType, encoding string) (io.Reader, error) {
	var r io.Reader = raw
	switch encoding {
	case "", "identity":
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(raw)
		if err != nil {
			return nil, err
		}
		gz.Multistream(false)
		r = gz
	case "deflate":
		r = inflater(raw)
	default:
		return nil, fmt.Errorf("%w %q", errEncoding, encoding)
	}
	if r != raw {
		// The scan counts the bytes it reads, but not those of the parts
		// before an MTOM root, which are inflated to be skipped.
		r = &inflatedLimit{r: r, left: raw.limit}
	}
	if isMTOM(contentType) {
		return rootPart(r, contentType)
	}
	return r, nil
}

// inflater reads a deflate body: zlib-wrapped, as HTTP says, or raw deflate,
// as some clients send; the first two bytes tell.
func inflater(raw *peekReader) io.Reader {
	var head [2]byte
	n, _ := io.ReadFull(raw, head[:])
	rest := io.MultiReader(bytes.NewReader(head[:n]), raw)
	if n == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		if z, err := zlib.NewReader(rest); err == nil {
			return z
		}
		return errReader{errors.New("deflate: bad zlib header")}
	}
	return flate.NewReader(rest)
}

// inflatedLimit fails with ErrOverLimit once left bytes have been inflated.
type inflatedLimit struct {
	r    io.Reader
	left int
}

func (l *inflatedLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, ErrOverLimit
	}
	n, err := l.r.Read(p[:min(len(p), l.left)])
	l.left -= n
	return n, err
}

// rootPart returns the root part of an MTOM message: the part whose
// Content-ID is the start parameter, else the first part.
func rootPart(r io.Reader, contentType string) (io.Reader, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, errors.New("multipart/related without a boundary")
	}
	start := strings.Trim(params["start"], "<>")
	mr := multipart.NewReader(r, boundary)
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			return nil, err
		}
		if start == "" || strings.Trim(part.Header.Get("Content-Id"), "<> \t") == start {
			return part, nil
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
