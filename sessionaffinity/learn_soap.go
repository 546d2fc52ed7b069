package sessionaffinity

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// ResponsePeek finds the session id a SOAP response hands out (Synapse's soap
// session: a ServiceGroupId among the reference parameters of its
// wsa:ReplyTo) while the response passes on unchanged: it keeps a copy of the
// response's first bytes, never more than the peek limit, and scans them as
// they arrive, up to the end of the SOAP Header.
type ResponsePeek struct {
	ids                          *IDSource
	contentType, contentEncoding string
	buf                          []byte
	scanned                      int // len(buf) at the last scan
}

// minRescan is the least growth of the copy that makes a new scan worth it
// (besides doubling, and the end of the response): a response that trickles
// in by the byte is not scanned anew for every byte.
const minRescan = 512

// PeekResponse returns a peek for a response with header h, or nil when the
// source learns no ids from bodies or the response cannot carry a SOAP
// envelope.
func (s *IDSource) PeekResponse(h http.Header) *ResponsePeek {
	if !s.ReadsBody() || !soap.CarriesEnvelope(h.Get("Content-Type")) {
		return nil
	}
	return &ResponsePeek{ids: s, contentType: h.Get("Content-Type"), contentEncoding: h.Get("Content-Encoding")}
}

// Write takes the response's next bytes (it keeps a copy of what it needs,
// not b). done says the peek has its answer: id, or "" for none; later bytes
// need not be shown to it.
func (p *ResponsePeek) Write(b []byte) (id string, done bool) {
	room := p.ids.peekLimit - len(p.buf)
	full := len(b) >= room
	p.buf = append(p.buf, b[:min(len(b), room)]...)
	grown := len(p.buf) - p.scanned
	if !full && grown < max(minRescan, p.scanned) && p.scanned > 0 {
		return "", false
	}
	return p.scan(full)
}

// End is the end of the response: the last look at what arrived.
func (p *ResponsePeek) End() (id string) {
	id, _ = p.scan(true)
	return id
}

// errMore ends the copy of a response that goes on.
var errMore = errors.New("more of the response to come")

// scan looks at the copy; complete says nothing more will be added to it.
func (p *ResponsePeek) scan(complete bool) (string, bool) {
	p.scanned = len(p.buf)
	var body io.Reader = bytes.NewReader(p.buf)
	if !complete {
		body = io.MultiReader(body, errorReader{errMore})
	}
	text, found, err := soap.ReplyToParameter(body, p.contentType, p.contentEncoding, p.ids.peekLimit, p.ids.soapHeader)
	if !found && errors.Is(err, errMore) {
		return "", false
	}
	return p.ids.usable(text), true
}

type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }
