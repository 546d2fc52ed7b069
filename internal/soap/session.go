package soap

import "encoding/xml"

// NamespaceAxis2 is Axis2's namespace, that of the ServiceGroupId which names
// a Synapse soap session.
const NamespaceAxis2 = "http://ws.apache.org/namespaces/axis2"

// ServiceGroupID names a soap session: a header block of the requests, and a
// reference parameter of the wsa:ReplyTo in the response that hands it out.
var ServiceGroupID = xml.Name{Space: NamespaceAxis2, Local: "ServiceGroupId"}

// ReplyToParameter reads the Header of a SOAP response for the reference
// parameter name of its wsa:ReplyTo (final or submission WS-Addressing), as
// Axis2 hands out a ServiceGroupId, and returns its text. As Synapse's
// SoapSessionDispatcher, it takes the first ReplyTo, its first
// ReferenceParameters and their first element called name; found is false
// when they hold none, and when the scan stopped (see sc.Err).
func ReplyToParameter(sc *HeaderScanner, name xml.Name) (text string, found bool) {
	for sc.Next() {
		block := sc.Block().Name
		if block.Local != "ReplyTo" || !isAddressingNamespace(block.Space) {
			continue
		}
		return sc.DescendantText(xml.Name{Space: block.Space, Local: "ReferenceParameters"}, name)
	}
	return "", false
}
