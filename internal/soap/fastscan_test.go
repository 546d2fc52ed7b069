package soap

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soaptest"
)

// scanFast runs fastBlockScanner alone over in, fed in pieces of chunk bytes as
// a body read in pieces would be, and returns its answer as PeekBlock would.
func scanFast(in []byte, chunk int) (text string, found bool, st scanStatus, err error) {
	sc := fastBlockScanner{want: clientIDName}
	for n := min(chunk, len(in)); ; n = min(n+chunk, len(in)) {
		st = sc.scan(in[:n])
		if st == scanDone {
			switch sc.result {
			case foundBlock:
				return string(sc.Text(in)), true, st, nil
			case notSOAP:
				return "", false, st, ErrNotSOAP
			}
			return "", false, st, nil
		}
		if st != scanMore || n == len(in) {
			return "", false, st, nil
		}
	}
}

// scanXML is xmlHeaderScanner's (encoding/xml's) answer for in, read whole.
func scanXML(in []byte) (text string, found bool, err error) {
	sc := newXMLHeaderScanner(bytes.NewReader(in), len(in)+1)
	for sc.Next() {
		if sc.Block().Name != clientIDName {
			continue
		}
		if t, ok := sc.Text(); ok {
			return t, true, nil
		}
	}
	return "", false, sc.Err()
}

func sameAnswer(err1, err2 error) bool {
	return (err1 == nil) == (err2 == nil) && (err1 != ErrNotSOAP) == (err2 != ErrNotSOAP)
}

var fastCases = []string{
	soaptest.Env11(soaptest.ClientID("123")),
	soaptest.Env12(soaptest.ClientID(" 123 ")),
	soaptest.Env11("-"),
	soaptest.Env11(""),
	soaptest.Env11(`<wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:x</wsa:Action>` + soaptest.ClientID("late")),
	soaptest.Env11(`<o:wrap xmlns:o="urn:o">` + soaptest.ClientID("nested") + `</o:wrap>`),
	soaptest.Env11(`<syn:ClientID xmlns:syn="` + soaptest.SynapseNS + `"/>`),
	soaptest.Env11(soaptest.ClientID("a&amp;b&#65;&#x42;&lt;")),
	soaptest.Env11(soaptest.ClientID("<![CDATA[ c<d>&e ]]>")),
	soaptest.Env11(soaptest.ClientID("a<!-- hidden -->b" + "\r\n")),
	soaptest.Env11(`<syn:ClientID xmlns:syn="` + soaptest.SynapseNS + `"><x>1</x>2<y/></syn:ClientID>`),
	`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + soaptest.Env11(soaptest.ClientID("decl")),
	`<Envelope xmlns="` + Namespace11 + `"><Header><ClientID xmlns="` + soaptest.SynapseNS + `">d</ClientID></Header><Body/></Envelope>`,
	`<e:Envelope xmlns:e="` + Namespace11 + `"><e:Header xmlns:e="urn:not-soap">` + soaptest.ClientID("v") + `</e:Header></e:Envelope>`,
	`<getQuote><symbol>IBM</symbol></getQuote>`,
	soaptest.Open11 + `<soapenv:Body>` + soaptest.ClientID("body") + `</soapenv:Body>` + soaptest.Close,
}

// The scanner answers the usual envelopes itself, in one piece or many, as
// encoding/xml does.
func TestHeaderScannerAnswersCommonEnvelopes(t *testing.T) {
	for _, in := range fastCases {
		wantText, wantFound, wantErr := scanXML([]byte(in))
		for _, chunk := range []int{1 << 20, 7, 1} {
			text, found, st, err := scanFast([]byte(in), chunk)
			if st != scanDone {
				t.Errorf("pieces of %d: left %.80q to encoding/xml (status %d)", chunk, in, st)
				continue
			}
			if text != wantText || found != wantFound || !sameAnswer(err, wantErr) {
				t.Errorf("pieces of %d of %.80q: scanner (%q, %v, %v), encoding/xml (%q, %v, %v)", chunk, in, text, found, err, wantText, wantFound, wantErr)
			}
		}
	}
}

// FuzzFastScannerMatchesEncodingXML: whatever the bytes, and however they
// arrive, when the scanner answers, encoding/xml answers the same.
func FuzzFastScannerMatchesEncodingXML(f *testing.F) {
	for _, in := range fastCases {
		f.Add([]byte(in), uint8(0))
		f.Add([]byte(in), uint8(3))
	}
	for _, in := range []string{
		`<?xml version='1.0' encoding='UTF-8' standalone="yes"?>` + soaptest.Env12(soaptest.ClientID("d")),
		`<?xml version="1.0" encoding="ISO-8859-1"?>` + soaptest.Env11(soaptest.ClientID("1")),
		`<!DOCTYPE e [<!ENTITY x "y">]>` + soaptest.Env11(soaptest.ClientID("&x;")),
		`<Envelope xmlns="` + Namespace11 + `"><Header><ClientID xmlns="` + soaptest.SynapseNS + `" xmlns:p="">i</ClientID></Header></Envelope>`,
		soaptest.Env11(`<syn:ClientID xmlns:syn="` + soaptest.SynapseNS + `" a="]]>">i</syn:ClientID>`),
		soaptest.Env11(soaptest.ClientID("a]]>b")),
		soaptest.Env11(soaptest.ClientID("&#0;")),
		soaptest.Env11(soaptest.ClientID("&#xD800;")),
		soaptest.Env11(soaptest.ClientID("\x01")),
		soaptest.Env11(soaptest.ClientID("bad\xff\xfeutf8")),
		`<soapenv:Envelope><soapenv:Header>` + soaptest.ClientID("x") + `</soapenv:Header></soapenv:Envelope>`,
	} {
		f.Add([]byte(in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		text, found, st, err := scanFast(in, int(chunk)+1)
		if st != scanDone {
			return
		}
		wantText, wantFound, wantErr := scanXML(in)
		if text != wantText || found != wantFound || !sameAnswer(err, wantErr) {
			t.Fatalf("scanner (%q, %v, %v), encoding/xml (%q, %v, %v) for %q", text, found, err, wantText, wantFound, wantErr, in)
		}
	})
}

// PeekBlock of a 1 KB envelope costs one allocation: the reader, the replay
// and the first chunk together (the id the caller makes of the text is its
// second). An XML declaration costs none.
func TestPeekBlockAllocations(t *testing.T) {
	envelope := soaptest.Env11(soaptest.ClientID("123")) + strings.Repeat(" ", 1024)
	for _, in := range [][]byte{[]byte(envelope), []byte(`<?xml version="1.0" encoding="UTF-8"?>` + envelope)} {
		r := bytes.NewReader(in)
		body := io.NopCloser(r)
		if allocs := testing.AllocsPerRun(100, func() {
			r.Reset(in)
			if text, found, _, err := PeekBlock(body, -1, "", "", 64<<10, clientIDName); !found || err != nil || string(text) != "123" {
				panic(string(text))
			}
		}); allocs > 1 {
			t.Errorf("PeekBlock of %.60q…: %v allocations, want 1", in, allocs)
		}
	}
}

// BenchmarkFastBlockScanner measures the tokenizer alone, on the envelope of
// Synapse's sample client and on one whose ClientID follows the
// WS-Addressing blocks an Axis2 client sends.
func BenchmarkFastBlockScanner(b *testing.B) {
	const wsa = `xmlns:wsa="http://www.w3.org/2005/08/addressing"`
	for _, bc := range []struct{ name, in string }{
		{"sample", soaptest.Env11(soaptest.ClientID("123"))},
		{"after_addressing", soaptest.Env11(
			`<wsa:To ` + wsa + `>http://localhost:8280/services/LBService1</wsa:To>` +
				`<wsa:MessageID ` + wsa + `>urn:uuid:8f3ac5a1-59a2-4cf5-a1a7-5e5a4e8d3b9c</wsa:MessageID>` +
				`<wsa:Action ` + wsa + `>urn:sampleOperation</wsa:Action>` +
				soaptest.ClientID("123"))},
	} {
		in := []byte(bc.in)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				sc := fastBlockScanner{want: clientIDName}
				if sc.scan(in) != scanDone || sc.result != foundBlock {
					b.Fatal("no id found")
				}
			}
		})
	}
}
