package soap

import (
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	tests := map[string]Version{
		"text/xml":                             SOAP11,
		"text/xml;charset=UTF-8":               SOAP11,
		" Text/XML ; charset=utf-8":            SOAP11,
		"application/soap+xml":                 SOAP12,
		`application/soap+xml; action="urn:x"`: SOAP12,
		"application/xml":                      POX,
		"application/json":                     POX,
		"":                                     POX,
		`multipart/related; type="application/xop+xml"; start-info="application/soap+xml"`: SOAP12,
		`multipart/related; type="application/xop+xml"; start-info="text/xml"`:             SOAP11,
		`multipart/related; type="text/xml"`:                                               SOAP11,
		`multipart/related; type="application/xop+xml"`:                                    POX,
		`multipart/related; =bad`:                                                          POX,
	}
	for ct, want := range tests {
		if got := VersionOf(ct); got != want {
			t.Errorf("VersionOf(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestIsXMLContentType(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/xml", true},
		{"text/xml; charset=utf-8", true},
		{"text/xml;charset=UTF-8", true},
		{" text/xml ; charset=utf-8", true},
		{"TEXT/XML", true},
		{`application/soap+xml; charset=utf-8; action="urn:getQuote"`, true},
		{"application/soap+xml;action=urn:placeOrder", true},
		{"application/soap+xml", true},
		{"APPLICATION/XML", true},
		{"application/xml", true},
		{"Application/Soap+XML", true},
		{"application/atom+xml", true},
		{"application/vnd.acme+xml; version=2", true},
		{"text/plain", false},
		{"text/plain; charset=utf-8", false},
		{"application/json", false},
		{"application/soap+json", false},
		{"multipart/related; type=\"application/xop+xml\"", false},
		{"application/x-www-form-urlencoded", false},
		{"text/xmlfoo", false},
		{"xml", false},
		{"+xml", false},
		{"text/html", false},
		{"", false},
		{";", false},
	}
	for _, tc := range tests {
		if got := IsXMLContentType(tc.ct); got != tc.want {
			t.Errorf("IsXMLContentType(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}

func TestParseQName(t *testing.T) {
	tests := []struct {
		in      string
		want    xml.Name
		wantErr bool
	}{
		{in: "{http://ws.apache.org/ns/synapse}ClientID", want: xml.Name{Space: "http://ws.apache.org/ns/synapse", Local: "ClientID"}},
		{in: "{urn:acme:v1}Session", want: xml.Name{Space: "urn:acme:v1", Local: "Session"}},
		{in: "{}Local", want: xml.Name{Local: "Local"}},
		{in: "Local", want: xml.Name{Local: "Local"}},
		{in: "{http://x/}a.b-c_d", want: xml.Name{Space: "http://x/", Local: "a.b-c_d"}},
		{in: "{urn:x}Sessão", want: xml.Name{Space: "urn:x", Local: "Sessão"}},
		{in: "", wantErr: true},
		{in: "{", wantErr: true},
		{in: "{urn:x", wantErr: true},
		{in: "{urn:x}", wantErr: true},
		{in: "{}", wantErr: true},
		{in: "{urn:x}}a", wantErr: true},
		{in: "{urn:x}a{b}", wantErr: true},
		{in: "a}b", wantErr: true},
		{in: "syn:ClientID", wantErr: true},
		{in: "{urn:x}syn:ClientID", wantErr: true},
		{in: "{urn:x}Client ID", wantErr: true},
		{in: "{urn:x}Client\tID", wantErr: true},
		{in: "{urn:x}Client\nID", wantErr: true},
		{in: "{urn:x}<ClientID>", wantErr: true},
		{in: "{urn:x}a&b", wantErr: true},
		{in: `{urn:x}a"b`, wantErr: true},
		{in: "{urn:x}a'b", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseQName(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseQName(%q) = %+v, want an error", tc.in, got)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
					t.Errorf("error %q does not name the value %q", err, tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQName(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseQName(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
