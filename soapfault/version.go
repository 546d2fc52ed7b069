package soapfault

import (
	"fmt"
	"mime"
	"strings"
)

// Version is the kind of fault to produce.
type Version uint8

// The fault versions. VersionAuto answers in the version of the request (see
// DetectVersion).
const (
	VersionAuto Version = iota + 1
	VersionSOAP11
	VersionSOAP12
	VersionPOX
)

// Envelope namespaces.
const (
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Content-Type headers of the rendered faults.
const (
	ContentTypeSOAP11 = "text/xml; charset=UTF-8"
	ContentTypeSOAP12 = "application/soap+xml; charset=UTF-8"
	ContentTypePOX    = "application/xml; charset=UTF-8"
)

// ParseVersion parses a version name as written in the configuration:
// soap11, soap12, pox or auto.
func ParseVersion(s string) (Version, error) {
	switch s {
	case "soap11":
		return VersionSOAP11, nil
	case "soap12":
		return VersionSOAP12, nil
	case "pox":
		return VersionPOX, nil
	case "auto":
		return VersionAuto, nil
	}
	return 0, fmt.Errorf("unknown fault version %q (want soap11, soap12, pox or auto)", s)
}

// String returns the configuration name of v.
func (v Version) String() string {
	switch v {
	case VersionAuto:
		return "auto"
	case VersionSOAP11:
		return "soap11"
	case VersionSOAP12:
		return "soap12"
	case VersionPOX:
		return "pox"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// ContentType returns the Content-Type header value of a fault of version v.
func (v Version) ContentType() string {
	switch v {
	case VersionSOAP11:
		return ContentTypeSOAP11
	case VersionSOAP12:
		return ContentTypeSOAP12
	}
	return ContentTypePOX
}

// EnvelopeNamespace returns the SOAP envelope namespace of v, or "" for POX.
func (v Version) EnvelopeNamespace() string {
	switch v {
	case VersionSOAP11:
		return NamespaceSOAP11
	case VersionSOAP12:
		return NamespaceSOAP12
	}
	return ""
}

// DetectVersion tells which fault a request with the given Content-Type header
// expects: application/soap+xml is SOAP 1.2, text/xml is SOAP 1.1, an MTOM
// multipart/related request is judged by its start-info (or type) parameter,
// and anything else is POX. It never looks at the body, so it never consumes
// what a proxy still has to send. It does not allocate for the common types.
func DetectVersion(contentType string) Version {
	mediaType := contentType
	if i := strings.IndexByte(mediaType, ';'); i >= 0 {
		mediaType = mediaType[:i]
	}
	mediaType = strings.TrimSpace(mediaType)
	if strings.EqualFold(mediaType, "multipart/related") {
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			return VersionPOX
		}
		mediaType = params["start-info"]
		if mediaType == "" {
			mediaType = params["type"]
		}
		if i := strings.IndexByte(mediaType, ';'); i >= 0 {
			mediaType = mediaType[:i]
		}
		mediaType = strings.TrimSpace(mediaType)
	}
	switch {
	case strings.EqualFold(mediaType, "application/soap+xml"):
		return VersionSOAP12
	case strings.EqualFold(mediaType, "text/xml"):
		return VersionSOAP11
	}
	return VersionPOX
}
