package sessionaffinity

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// Defaults for an IDSource, as in Synapse's simpleClientSession.
const (
	DefaultHeader      = "simpleClientSession"
	DefaultSOAPHeader  = "{http://ws.apache.org/ns/synapse}ClientID"
	DefaultPeekLimit   = 64 << 10
	DefaultMaxIDLength = 256
)

// IDSource says where a request names its session: HTTP headers first (cheap),
// then cookies, then one SOAP header block; and, for the session types learned
// from responses, where a response hands one out.
type IDSource struct {
	headers     []string // canonical MIME header keys
	cookies     []string
	soapHeader  xml.Name // zero: do not read the body
	peekLimit   int
	maxIDLength int
}

// NewIDSource validates and prepares an IDSource. soapHeader is a Clark-notation
// QName ("{namespace}Local") or "" to never read the body.
func NewIDSource(headers []string, soapHeader string, peekLimit, maxIDLength int) (*IDSource, error) {
	src := &IDSource{peekLimit: peekLimit, maxIDLength: maxIDLength}
	if peekLimit < 1 {
		return nil, fmt.Errorf("peek limit must be at least 1 byte, got %d", peekLimit)
	}
	if maxIDLength < 1 {
		return nil, fmt.Errorf("max id length must be at least 1 byte, got %d", maxIDLength)
	}
	for _, h := range headers {
		if !httpguts.ValidHeaderFieldName(h) {
			return nil, fmt.Errorf("invalid HTTP header name %q", h)
		}
		src.headers = append(src.headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	if soapHeader != "" {
		name, err := soap.ParseQName(soapHeader)
		if err != nil {
			return nil, err
		}
		src.soapHeader = name
	}
	return src, nil
}

// ReadsBody reports whether the source may look into SOAP bodies.
func (s *IDSource) ReadsBody() bool { return s.soapHeader.Local != "" }

// FromHeaders returns the session id from the first configured HTTP header
// that carries a usable one, else from the first configured cookie that does,
// or "". Of a header sent on several lines the first line counts, whole: "a, b"
// is the id "a, b". It does not allocate.
func (s *IDSource) FromHeaders(h http.Header) string {
	for _, key := range s.headers {
		if vals := h[key]; len(vals) > 0 {
			if id := s.usable(vals[0]); id != "" {
				return id
			}
		}
	}
	return s.fromCookies(h)
}

// usable trims an id and returns "" for one that is empty, too long or not
// UTF-8: such an id is treated as no session, never stored. (An id that is
// not UTF-8 could not be named in the admin API's JSON, where its bytes
// would read as U+FFFD, nor told from another that differs in them.)
func (s *IDSource) usable(id string) string {
	id = strings.TrimSpace(id)
	if len(id) > s.maxIDLength || !utf8.ValidString(id) {
		return ""
	}
	return id
}

// usableBytes is usable for an id read from a body: the string it returns
// is a copy of the trimmed id alone.
func (s *IDSource) usableBytes(id []byte) string {
	id = bytes.TrimSpace(id)
	if len(id) > s.maxIDLength || !utf8.Valid(id) {
		return ""
	}
	return string(id)
}
