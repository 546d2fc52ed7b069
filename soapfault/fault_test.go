package soapfault

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

const (
	wantDefaultSOAP11 = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode xmlns:soap11Env="http://schemas.xmlsoap.org/soap/envelope/">soap11Env:VersionMismatch</faultcode><faultstring>COULDN'T SEND THE MESSAGE TO THE SERVER.</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`
	wantDefaultSOAP12 = `<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body><soapenv:Fault><soapenv:Code><soapenv:Value xmlns:soap12Env="http://www.w3.org/2003/05/soap-envelope">soap12Env:VersionMismatch</soapenv:Value></soapenv:Code><soapenv:Reason><soapenv:Text xml:lang="en">COULDN'T SEND THE MESSAGE TO THE SERVER.</soapenv:Text></soapenv:Reason></soapenv:Fault></soapenv:Body></soapenv:Envelope>`
	wantDefaultPOX    = `<Exception>COULDN'T SEND THE MESSAGE TO THE SERVER.</Exception>`
)

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		want  string
	}{
		{"soap11 default", Fault{Version: VersionSOAP11, Reason: DefaultReason}, wantDefaultSOAP11},
		{"soap12 default", Fault{Version: VersionSOAP12, Reason: DefaultReason}, wantDefaultSOAP12},
		{"pox default", Fault{Version: VersionPOX, Reason: DefaultReason}, wantDefaultPOX},
		{
			"soap11 full",
			Fault{Version: VersionSOAP11, Code: Code{"s", "Server"}, Reason: "a < b & c > d", Role: "urn:proxy", Detail: `<e:err xmlns:e="urn:e" e:k="v">x &amp; y</e:err>`},
			`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">s:Server</faultcode><faultstring>a &lt; b &amp; c &gt; d</faultstring><faultactor>urn:proxy</faultactor><detail><e:err xmlns:e="urn:e" e:k="v">x &amp; y</e:err></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		},
		{
			"soap12 full",
			Fault{Version: VersionSOAP12, Code: Code{Local: "Receiver"}, Reason: "down", Node: "http://proxy/", Role: "urn:role", Detail: "no upstream"},
			`<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"><soapenv:Body><soapenv:Fault><soapenv:Code><soapenv:Value xmlns:soap12Env="http://www.w3.org/2003/05/soap-envelope">soap12Env:Receiver</soapenv:Value></soapenv:Code><soapenv:Reason><soapenv:Text xml:lang="en">down</soapenv:Text></soapenv:Reason><soapenv:Node>http://proxy/</soapenv:Node><soapenv:Role>urn:role</soapenv:Role><soapenv:Detail>no upstream</soapenv:Detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		},
		{"pox detail text wins over reason", Fault{Version: VersionPOX, Reason: "r", Detail: "d & d"}, `<Exception>d &amp; d</Exception>`},
		{"pox detail xml", Fault{Version: VersionPOX, Reason: "r", Detail: `<a>1</a><b/>`}, `<Exception><a>1</a><b/></Exception>`},
		{"carriage return kept", Fault{Version: VersionPOX, Reason: "a\r\nb"}, "<Exception>a&#xD;\nb</Exception>"},
		{"invalid characters replaced", Fault{Version: VersionPOX, Reason: "a\x00b\xffc\uFFFE"}, "<Exception>a\uFFFDb\uFFFDc\uFFFD</Exception>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("render() =\n%s\nwant\n%s", got, tt.want)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(got); err != nil {
				t.Errorf("output does not parse: %v", err)
			}
		})
	}
}

func TestAutoCodeMapping(t *testing.T) {
	tests := []struct {
		code      string
		want11    string
		want12    string
		wantError bool
	}{
		{"soap11Env:VersionMismatch", "soap11Env:VersionMismatch", "soap12Env:VersionMismatch", false},
		{"Client", "soap11Env:Client", "soap12Env:Sender", false},
		{"soap12Env:Sender", "soap11Env:Client", "soap12Env:Sender", false},
		{"Server", "soap11Env:Server", "soap12Env:Receiver", false},
		{"x:Receiver", "x:Server", "x:Receiver", false},
		{"DataEncodingUnknown", "soap11Env:Client", "soap12Env:DataEncodingUnknown", false},
		{"MustUnderstand", "soap11Env:MustUnderstand", "soap12Env:MustUnderstand", false},
		{"soap11Env:Bogus", "", "", true},
		{"1x:Client", "", "", true},
		{"xmlns:Client", "", "", true},
		{":Client", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			c, err := ParseCode(tt.code)
			if tt.wantError {
				if err == nil {
					t.Fatalf("ParseCode(%q) succeeded, want error", tt.code)
				}
				if !strings.Contains(err.Error(), tt.code) {
					t.Errorf("error %q does not name %q", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.For(VersionSOAP11).String(); got != tt.want11 {
				t.Errorf("SOAP 1.1 code = %s, want %s", got, tt.want11)
			}
			if got := c.For(VersionSOAP12).String(); got != tt.want12 {
				t.Errorf("SOAP 1.2 code = %s, want %s", got, tt.want12)
			}
			comp, err := Compile(Fault{Version: VersionAuto, Code: c})
			if err != nil {
				t.Fatal(err)
			}
			for ct, want := range map[string]string{"text/xml": tt.want11, "application/soap+xml": tt.want12} {
				out := string(comp.Template(ct).Append(nil, "r"))
				if !strings.Contains(out, ">"+want+"<") {
					t.Errorf("%s fault %s lacks code %s", ct, out, want)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		fault   Fault
		wantErr string // a substring; "" = valid
	}{
		{"default soap11", Fault{Version: VersionSOAP11}, ""},
		{"zero version", Fault{}, "unknown fault version"},
		{"soap11 code in soap12", Fault{Version: VersionSOAP12, Code: Code{"p", "Client"}}, `"p:Client"`},
		{"soap12 code in soap11", Fault{Version: VersionSOAP11, Code: Code{"soap12Env", "Receiver"}}, `"soap12Env:Receiver"`},
		{"unknown code local", Fault{Version: VersionAuto, Code: Code{"p", "Oops"}}, `"Oops"`},
		{"bad prefix", Fault{Version: VersionSOAP11, Code: Code{"a b", "Client"}}, `"a b"`},
		{"node in soap11", Fault{Version: VersionSOAP11, Node: "urn:n"}, `node "urn:n"`},
		{"node in auto", Fault{Version: VersionAuto, Node: "urn:n"}, ""},
		{"role in pox", Fault{Version: VersionPOX, Role: "urn:r"}, `role "urn:r"`},
		{"role with space", Fault{Version: VersionSOAP11, Role: "not a uri"}, `"not a uri"`},
		{"unclosed detail", Fault{Version: VersionSOAP11, Detail: "<a><b></a>"}, `detail "<a><b></a>"`},
		{"unterminated detail", Fault{Version: VersionSOAP11, Detail: "<a>"}, `detail "<a>"`},
		{"escaping the wrapper", Fault{Version: VersionSOAP11, Detail: "<a/></soapfault-detail><soapfault-detail>"}, "detail"},
		{"undeclared prefix", Fault{Version: VersionSOAP11, Detail: "<e:x/>"}, `"e"`},
		{"undeclared attribute prefix", Fault{Version: VersionSOAP11, Detail: `<x e:a="1"/>`}, `"e"`},
		{"processing instruction", Fault{Version: VersionSOAP11, Detail: `<x><?php x?></x>`}, "processing instruction"},
		{"doctype", Fault{Version: VersionSOAP11, Detail: `<!DOCTYPE x><x/>`}, "detail"},
		{"unknown entity", Fault{Version: VersionSOAP11, Detail: `<x>&nbsp;</x>`}, "detail"},
		{"text detail with angle", Fault{Version: VersionSOAP11, Detail: "a < b"}, ""},
		{"marker in detail", Fault{Version: VersionSOAP11, Detail: reasonMark}, "marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.fault)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %s", err, tt.wantErr)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"soap11", "soap12", "pox", "auto"} {
		v, err := ParseVersion(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseVersion(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseVersion("soap13"); err == nil || !strings.Contains(err.Error(), `"soap13"`) {
		t.Errorf("ParseVersion(soap13) error = %v, want one naming soap13", err)
	}
}

func TestContentType(t *testing.T) {
	c, err := Compile(Fault{Version: VersionAuto})
	if err != nil {
		t.Fatal(err)
	}
	for ct, want := range map[string]string{
		"text/xml":             "text/xml; charset=UTF-8",
		"application/soap+xml": "application/soap+xml; charset=UTF-8",
		"application/json":     "application/xml; charset=UTF-8",
	} {
		if got := c.Template(ct).ContentType(); got != want {
			t.Errorf("request %s: Content-Type %s, want %s", ct, got, want)
		}
	}
}

// roundTrip renders f with reason and checks that the output is well-formed
// and carries reason (and a text detail) back.
func roundTrip(t *testing.T, f Fault) {
	t.Helper()
	c, err := Compile(f)
	if err != nil {
		return // invalid configurations are rejected, which is fine
	}
	for _, ct := range []string{"text/xml", "application/soap+xml", "application/xml"} {
		tmpl := c.Template(ct)
		out := tmpl.Append(nil, f.Reason)
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(out); err != nil {
			t.Fatalf("%s output is not well-formed: %v\n%s", tmpl.version, err, out)
		}
		var reasonPath, detailPath string
		switch tmpl.version {
		case VersionSOAP11:
			reasonPath, detailPath = "/soapenv:Envelope/soapenv:Body/soapenv:Fault/faultstring", "/soapenv:Envelope/soapenv:Body/soapenv:Fault/detail"
		case VersionSOAP12:
			reasonPath, detailPath = "/soapenv:Envelope/soapenv:Body/soapenv:Fault/soapenv:Reason/soapenv:Text", "/soapenv:Envelope/soapenv:Body/soapenv:Fault/soapenv:Detail"
		case VersionPOX:
			reasonPath, detailPath = "/Exception", "/Exception"
			if f.Detail != "" {
				reasonPath = ""
			}
		}
		if reasonPath != "" {
			el := doc.FindElement(reasonPath)
			if el == nil {
				t.Fatalf("%s: no %s in\n%s", tmpl.version, reasonPath, out)
			}
			if want := sanitize(f.Reason); el.Text() != want {
				t.Fatalf("%s: reason %q parsed back as %q", tmpl.version, want, el.Text())
			}
		}
		if f.Detail != "" && !strings.HasPrefix(strings.TrimSpace(f.Detail), "<") {
			el := doc.FindElement(detailPath)
			if el == nil {
				t.Fatalf("%s: no %s in\n%s", tmpl.version, detailPath, out)
			}
			if want := sanitize(f.Detail); el.Text() != want {
				t.Fatalf("%s: detail %q parsed back as %q", tmpl.version, want, el.Text())
			}
		}
	}
}

// sanitize is what a parser gives back for s: characters XML cannot carry
// replaced by U+FFFD.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		xmlChar := utf8.ValidRune(r) && r != 0xFFFE && r != 0xFFFF && (r >= 0x20 || r == '\t' || r == '\n' || r == '\r')
		if (r == utf8.RuneError && w == 1) || !xmlChar {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += w
	}
	return b.String()
}

func TestRoundTrip(t *testing.T) {
	texts := []string{
		"", " ", "plain", "<not xml>", "]]>", "&amp;", "a\r\nb\rc", "tab\there", "\x00\x01\x1f",
		"\xff\xfe", "日本語", "\U0001F600", "\uFFFE\uFFFF", "quote \" and ' ", "{http.error.status_code}",
		"<![CDATA[x]]>", "&#x0;", "\uE000soapfault:reason\uE000",
	}
	for _, reason := range texts {
		for _, detail := range texts {
			roundTrip(t, Fault{Version: VersionAuto, Reason: reason, Detail: detail})
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, seed := range [][2]string{
		{DefaultReason, ""},
		{"a < b & c", "plain detail"},
		{"\r\n\x00\xff", `<e:x xmlns:e="urn:e">1</e:x>`},
		{"]]>", "<a><b/></a>text"},
		{"{http.error.message}", "\uFFFE"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, reason, detail string) {
		roundTrip(t, Fault{Version: VersionAuto, Reason: reason, Detail: detail})
	})
}
