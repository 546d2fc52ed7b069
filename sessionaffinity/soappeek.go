package sessionaffinity

import (
	"errors"
	"io"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
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

func (o PeekOutcome) String() string { return nameOf(peekOutcomeNames[:], o) }

// PeekID returns the session id a request body names in the configured SOAP
// header block (the first such block decides, as in Synapse), and a body to
// use in its place. It reads body only as far as needed to find the id (it
// stops at the end of the block, of the Header, or at the start of the Body)
// and never more than the peek limit. length is the body's (-1 when not
// known), contentType and contentEncoding its headers: an XML envelope, also
// one whose declaration names an ASCII-compatible alias of UTF-8; the root
// part of an MTOM message; gzip or deflate encoded. The peek limit bounds the
// bytes read and the bytes inflated. The caller must use replay in place of
// body: it yields exactly the bytes of the original as they came, read or
// not, and does not close the original until something of it has been read
// (so a retry after a dial error still has the whole body). When the peek
// read all length bytes, it holds them in memory, in a form that lets Go's
// HTTP transport send them with the request's headers in one write.
func (s *IDSource) PeekID(body io.ReadCloser, length int64, contentType, contentEncoding string) (id string, outcome PeekOutcome, replay io.ReadCloser) {
	text, found, replay, err := soap.PeekBlock(body, length, contentType, contentEncoding, s.peekLimit, s.soapHeader)
	switch {
	case err != nil:
		return "", classifyPeekError(err), replay
	case !found:
		return "", PeekNoID, replay
	}
	id = s.usableBytes(text)
	return id, idOutcome(id), replay
}

// PeekMessage reads the body as far as the end of the SOAP Header (or the
// start of the Body when there is none), never beyond the peek limit, and
// finds the session id as PeekID does. Unlike PeekID it always reads the
// whole Header, since a WS-Addressing rewrite of the message needs to know
// every block in it.
func (s *IDSource) PeekMessage(body io.ReadCloser) (m *soap.Message, id string, outcome PeekOutcome) {
	m, text, err := soap.ReadMessage(body, s.peekLimit, s.soapHeader)
	if err != nil {
		return m, "", classifyPeekError(err)
	}
	id = s.usable(text)
	return m, id, idOutcome(id)
}

func idOutcome(id string) PeekOutcome {
	if id != "" {
		return PeekFound
	}
	return PeekNoID
}

func classifyPeekError(err error) PeekOutcome {
	var readErr *soap.ReadError
	switch {
	case errors.Is(err, soap.ErrNotSOAP):
		return PeekNotSOAP
	case errors.Is(err, soap.ErrOverLimit):
		return PeekOverLimit
	case errors.As(err, &readErr):
		return PeekReadError
	default:
		return PeekMalformed
	}
}
