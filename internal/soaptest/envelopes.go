// Package soaptest builds the SOAP envelopes the tests of several packages
// send: Synapse's getQuote sample, with a Header of the test's choosing.
package soaptest

// Namespaces of the samples. The plugin's own code takes the envelope
// namespaces from package soap; these are written out, as a client would.
const (
	SynapseNS = "http://ws.apache.org/ns/synapse"

	Open11    = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`
	Open12    = `<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope">`
	Close     = `</soapenv:Envelope>`
	BodyQuote = `<soapenv:Body><m:getQuote xmlns:m="http://services.samples"><m:request><m:symbol>IBM</m:symbol></m:request></m:getQuote></soapenv:Body>`
)

// ClientID is a Synapse ClientID header block with the syn prefix.
func ClientID(text string) string {
	return `<syn:ClientID xmlns:syn="` + SynapseNS + `">` + text + `</syn:ClientID>`
}

// Env11 and Env12 build an envelope with the given Header content (none if
// header is "-") followed by a Body.
func Env11(header string) string { return envelope(Open11, header) }

// Env12 is Env11 in SOAP 1.2.
func Env12(header string) string { return envelope(Open12, header) }

// envelope builds an envelope that opens with open, with the given Header
// content (none if header is "-"), followed by a Body.
func envelope(open, header string) string {
	if header == "-" {
		return open + BodyQuote + Close
	}
	return open + `<soapenv:Header>` + header + `</soapenv:Header>` + BodyQuote + Close
}
