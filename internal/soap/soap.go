// Package soap holds every SOAP and WS-Addressing fact the plugin needs: the
// envelope namespaces and versions, which version a Content-Type asks for,
// QNames and XML escaping; PeekBlock, which finds a request's session id block
// in the SOAP Header (also of a gzip, deflate or MTOM body) without reading
// past the Header, and returns a body that replays what it read;
// ReplyToParameter, which finds the id a response hands out in its
// wsa:ReplyTo; and ReadMessage with Addressing, the WS-Addressing rewrite of
// the Header. Two scanners read the Header: fastBlockScanner, in place and
// without allocating, for the common request, and xmlHeaderScanner, on
// encoding/xml, for everything else. It is plain Go, without Caddy;
// sessionaffinity, soapfault and the Caddy glue build on it.
package soap

import (
	"mime"
	"strings"
)

// Envelope namespaces.
const (
	Namespace11 = "http://schemas.xmlsoap.org/soap/envelope/"
	Namespace12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Version is a SOAP version, or POX (plain old XML) for none.
type Version uint8

// The versions.
const (
	POX Version = iota
	SOAP11
	SOAP12
)

// Namespace returns the envelope namespace of v, or "" for POX.
func (v Version) Namespace() string {
	switch v {
	case SOAP11:
		return Namespace11
	case SOAP12:
		return Namespace12
	}
	return ""
}

// ContentType returns the Content-Type header value of a UTF-8 message of
// version v.
func (v Version) ContentType() string {
	switch v {
	case SOAP11:
		return "text/xml; charset=UTF-8"
	case SOAP12:
		return "application/soap+xml; charset=UTF-8"
	}
	return "application/xml; charset=UTF-8"
}

// isEnvelopeNamespace reports whether ns is the namespace of a SOAP envelope.
func isEnvelopeNamespace(ns string) bool { return ns == Namespace11 || ns == Namespace12 }

// VersionOf tells which version a message with the given Content-Type header
// is: application/soap+xml is SOAP 1.2, text/xml is SOAP 1.1, an MTOM
// multipart/related message is judged by its start-info (or type) parameter,
// and anything else is POX. It never looks at the body, so it never consumes
// what a proxy still has to send. It does not allocate for the common types.
func VersionOf(contentType string) Version {
	mediaType := bareMediaType(contentType)
	if strings.EqualFold(mediaType, "multipart/related") {
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			return POX
		}
		mediaType = params["start-info"]
		if mediaType == "" {
			mediaType = params["type"]
		}
		mediaType = bareMediaType(mediaType)
	}
	switch {
	case strings.EqualFold(mediaType, "application/soap+xml"):
		return SOAP12
	case strings.EqualFold(mediaType, "text/xml"):
		return SOAP11
	}
	return POX
}

// bareMediaType is the media type of a Content-Type value, without its
// parameters and surrounding white space.
func bareMediaType(contentType string) string {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mediaType)
}

// IsXMLContentType reports whether a Content-Type may carry a SOAP envelope
// as its body: text/xml, application/soap+xml, application/xml or any other
// +xml type. (An MTOM body starts with a MIME boundary, not the envelope.)
func IsXMLContentType(contentType string) bool {
	mediaType := bareMediaType(contentType)
	return strings.EqualFold(mediaType, "text/xml") ||
		strings.EqualFold(mediaType, "application/xml") ||
		(len(mediaType) > 4 && strings.EqualFold(mediaType[len(mediaType)-4:], "+xml"))
}

// Action returns a request's SOAP action: the SOAPAction header (SOAP 1.1)
// without its quotes, else the action parameter of the Content-Type (SOAP
// 1.2), else "".
func Action(soapActionHeader, contentType string) string {
	if action := strings.Trim(strings.TrimSpace(soapActionHeader), `"`); action != "" {
		return action
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return params["action"]
}
