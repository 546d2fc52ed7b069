package soap

import (
	"encoding/xml"
	"io"
)

// NamespaceAxis2 is Axis2's namespace, that of the ServiceGroupId which names
// a Synapse soap session: a header block of the requests, and a reference
// parameter of the wsa:ReplyTo in the response that hands it out.
const NamespaceAxis2 = "http://ws.apache.org/namespaces/axis2"

// ReplyToParameter reads the Header of a SOAP response, a body with the given
// Content-Type and Content-Encoding headers read as newBodyScanner reads it
// and never beyond limit bytes, for the reference parameter name of its
// wsa:ReplyTo (final or submission WS-Addressing), as Axis2 hands out a
// ServiceGroupId, and returns its text. As Synapse's SoapSessionDispatcher, it
// takes the first ReplyTo, its first ReferenceParameters and their first
// element called name; found is false when they hold none, and when the scan
// stopped, err saying why (as xmlHeaderScanner.Err).
func ReplyToParameter(body io.Reader, contentType, contentEncoding string, limit int, name xml.Name) (text string, found bool, err error) {
	sc := newBodyScanner(body, contentType, contentEncoding, limit)
	text, found = replyToParameter(sc, name)
	return text, found, sc.Err()
}

func replyToParameter(sc *xmlHeaderScanner, name xml.Name) (text string, found bool) {
	for sc.Next() {
		block := sc.Block().Name
		if block.Local != "ReplyTo" || !isAddressingNamespace(block.Space) {
			continue
		}
		return sc.DescendantText(xml.Name{Space: block.Space, Local: "ReferenceParameters"}, name)
	}
	return "", false
}
