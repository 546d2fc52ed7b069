package soap

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

const testNS = "urn:test"

var testBlock = xml.Name{Space: testNS, Local: "ID"}

// envelopeWith is a SOAP 1.1 envelope whose Header holds block, and a Body
// of bodyBytes bytes.
func envelopeWith(block string, bodyBytes int) string {
	return `<e:Envelope xmlns:e="` + Namespace11 + `"><e:Header>` + block + `</e:Header><e:Body><x>` +
		strings.Repeat("y", bodyBytes) + `</x></e:Body></e:Envelope>`
}

// firstBlockText scans for testBlock and returns its text.
func firstBlockText(sc *xmlHeaderScanner) (string, error) {
	for sc.Next() {
		if sc.Block().Name == testBlock {
			text, _ := sc.Text()
			return text, sc.Err()
		}
	}
	return "", sc.Err()
}

func compress(t testing.TB, encoding string, data []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw deflate":
		w, _ = flate.NewWriter(&buf, flate.BestCompression)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBodyScannerReadsCompressedEnvelopes(t *testing.T) {
	env := []byte(envelopeWith(`<t:ID xmlns:t="`+testNS+`">zipped</t:ID>`, 100_000))
	for _, tc := range []struct{ name, header string }{
		{"gzip", "gzip"}, {"deflate", "deflate"}, {"raw deflate", "deflate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := compress(t, tc.name, env)
			sc := newBodyScanner(bytes.NewReader(body), "text/xml", tc.header, 64<<10)
			if id, err := firstBlockText(sc); id != "zipped" || err != nil {
				t.Fatalf("id %q, err %v", id, err)
			}
			// The bytes read are the compressed ones, a prefix of the body.
			if p := sc.Peeked(); !bytes.HasPrefix(body, p) || len(p) == 0 {
				t.Fatalf("peeked %d bytes that are not a prefix of the %d-byte body", len(p), len(body))
			}
		})
	}
}

func TestBodyScannerBoundsADecompressionBomb(t *testing.T) {
	// About 1.3 MB of gzip (the fastest level builds it in seconds) that
	// inflates to 1 GB of one XML comment.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = io.WriteString(zw, `<e:Envelope xmlns:e="`+Namespace11+`"><e:Header><!--`)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 1 << 10 {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	bomb := buf.Bytes()
	const limit = 64 << 10
	counted := &countingReader{r: bytes.NewReader(bomb)}
	sc := newBodyScanner(counted, "text/xml", "gzip", limit)
	_, err := firstBlockText(sc)
	if !errors.Is(err, ErrOverLimit) {
		t.Fatalf("err %v, want ErrOverLimit", err)
	}
	if inflated := len(sc.peek.buf); inflated > limit {
		t.Errorf("inflated %d bytes, more than the limit %d", inflated, limit)
	}
	t.Logf("bomb of %d bytes: read %d, inflated %d", len(bomb), counted.n, len(sc.peek.buf))
}

// The parts of a compressed MTOM message before its root are inflated to be
// skipped, never reaching the scan's own count: they count against the limit
// too, so that an attachment that is a bomb costs no more than one in the
// envelope (it cost a thousand times the limit, 66 MB inflated for 64 KiB).
func TestBodyScannerBoundsABombInAnMTOMAttachment(t *testing.T) {
	const limit = 64 << 10
	env := envelopeWith(`<t:ID xmlns:t="`+testNS+`">after-bomb</t:ID>`, 10)
	ct, _ := mtom(env, true)
	for _, tc := range []struct{ name, header string }{
		{"gzip", "gzip"}, {"deflate", "deflate"}, {"raw deflate", "deflate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An attachment of twice the limit in zeros compresses to far
			// less than the limit.
			att := "--MIMEBoundary\r\nContent-Type: application/octet-stream\r\nContent-ID: <att@cxf.apache.org>\r\n\r\n" +
				strings.Repeat("\x00", 2*limit) + "\r\n"
			_, root := mtom(env, false)
			body := compress(t, tc.name, []byte(att+root))
			if len(body) >= limit/4 {
				t.Fatalf("the compressed message is %d bytes; want it well within the limit", len(body))
			}
			sc := newBodyScanner(bytes.NewReader(body), ct, tc.header, limit)
			id, err := firstBlockText(sc)
			if !errors.Is(err, ErrOverLimit) || id != "" {
				t.Fatalf("id %q, err %v; want ErrOverLimit: the root comes after %d bytes inflated", id, err, 2*limit)
			}
			if !bytes.HasPrefix(body, sc.Peeked()) {
				t.Fatal("peeked bytes are not a prefix of the body")
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// mtom is an MTOM message whose root part (Content-ID root) holds envelope,
// after an attachment when attachmentFirst.
func mtom(envelope string, attachmentFirst bool) (contentType, body string) {
	root := "--MIMEBoundary\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n" +
		"Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@cxf.apache.org>\r\n\r\n" + envelope + "\r\n"
	attachment := "--MIMEBoundary\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n" +
		"Content-ID: <att@cxf.apache.org>\r\n\r\n" + strings.Repeat("\x00\xff", 1000) + "\r\n"
	parts := root + attachment
	if attachmentFirst {
		parts = attachment + root
	}
	return `multipart/related; type="application/xop+xml"; boundary="MIMEBoundary"; start="<root.message@cxf.apache.org>"; start-info="text/xml"`,
		parts + "--MIMEBoundary--\r\n"
}

func TestBodyScannerReadsTheMTOMRootPart(t *testing.T) {
	env := envelopeWith(`<t:ID xmlns:t="`+testNS+`">from-root</t:ID>`, 10)
	for _, attachmentFirst := range []bool{false, true} {
		ct, body := mtom(env, attachmentFirst)
		if !CarriesEnvelope(ct) {
			t.Fatalf("CarriesEnvelope(%q) = false", ct)
		}
		sc := newBodyScanner(strings.NewReader(body), ct, "", 64<<10)
		if id, err := firstBlockText(sc); id != "from-root" || err != nil {
			t.Fatalf("attachment first %v: id %q, err %v", attachmentFirst, id, err)
		}
		if !strings.HasPrefix(body, string(sc.Peeked())) {
			t.Fatal("peeked bytes are not a prefix of the body")
		}
	}
	// Without start, the first part is the root.
	ct, body := mtom(env, false)
	ct = strings.Replace(ct, `; start="<root.message@cxf.apache.org>"`, "", 1)
	if id, err := firstBlockText(newBodyScanner(strings.NewReader(body), ct, "", 64<<10)); id != "from-root" || err != nil {
		t.Fatalf("no start: id %q, err %v", id, err)
	}
}

func TestBodyScannerRefusesWhatItCannotRead(t *testing.T) {
	env := envelopeWith(`<t:ID xmlns:t="`+testNS+`">x</t:ID>`, 10)
	for _, tc := range []struct{ name, ct, ce, body string }{
		{"brotli", "text/xml", "br", env},
		{"gzip that is not", "text/xml", "gzip", env},
		{"MTOM without boundary", `multipart/related; type="application/xop+xml"`, "", env},
		{"MTOM whose start names no part", `multipart/related; type="application/xop+xml"; boundary=b; start="<none>"`, "", "--b\r\nContent-ID: <x>\r\n\r\n" + env + "\r\n--b--\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if id, err := firstBlockText(newBodyScanner(strings.NewReader(tc.body), tc.ct, tc.ce, 64<<10)); id != "" || err == nil {
				t.Fatalf("id %q, err %v: want an error", id, err)
			}
		})
	}
}

func TestScannerReadsASCIICompatibleDeclarations(t *testing.T) {
	block := `<t:ID xmlns:t="` + testNS + `">ascii-id</t:ID>`
	for _, enc := range []string{"utf8", "UTF8", "US-ASCII", "us-ascii", "ISO-8859-1", "latin1"} {
		env := `<?xml version="1.0" encoding="` + enc + `"?>` + envelopeWith(block, 10)
		if id, err := firstBlockText(newBodyScanner(strings.NewReader(env), "text/xml", "", 64<<10)); id != "ascii-id" || err != nil {
			t.Errorf("%s: id %q, err %v", enc, id, err)
		}
	}
	// Beyond ASCII before the id, a Latin-1 body is not decoded: no id.
	env := `<?xml version="1.0" encoding="ISO-8859-1"?>` + envelopeWith("<n>caf\xe9</n>"+block, 10)
	if id, err := firstBlockText(newBodyScanner(strings.NewReader(env), "text/xml", "", 64<<10)); id != "" || err == nil {
		t.Errorf("Latin-1 beyond ASCII: id %q, err %v; want an error", id, err)
	}
	// Other encodings are refused, as before.
	env = `<?xml version="1.0" encoding="UTF-16"?>` + envelopeWith(block, 10)
	if _, err := firstBlockText(newBodyScanner(strings.NewReader(env), "text/xml", "", 64<<10)); err == nil {
		t.Error("UTF-16 read without an error")
	}
}

// serviceGroupID names a soap session (sessionaffinity.DefaultServiceGroupID).
var serviceGroupID = xml.Name{Space: NamespaceAxis2, Local: "ServiceGroupId"}

func TestReplyToParameter(t *testing.T) {
	sgid := func(ns, text string) string {
		return `<wsa:ReplyTo xmlns:wsa="` + ns + `"><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address>` +
			`<wsa:ReferenceParameters><axis2:ServiceGroupId xmlns:axis2="` + NamespaceAxis2 + `">` + text +
			`</axis2:ServiceGroupId></wsa:ReferenceParameters></wsa:ReplyTo>`
	}
	tests := []struct {
		name, header string
		want         string
		found        bool
	}{
		{"final", sgid(WSAFinalNamespace, "urn:uuid:1"), "urn:uuid:1", true},
		{"submission", sgid(WSASubmissionNamespace, "urn:uuid:2"), "urn:uuid:2", true},
		{"after other blocks", `<wsa:To xmlns:wsa="` + WSAFinalNamespace + `">x</wsa:To>` + sgid(WSAFinalNamespace, "urn:uuid:3"), "urn:uuid:3", true},
		{"first ReplyTo decides", `<wsa:ReplyTo xmlns:wsa="` + WSAFinalNamespace + `"/>` + sgid(WSAFinalNamespace, "late"), "", false},
		{"first ReferenceParameters decides", `<wsa:ReplyTo xmlns:wsa="` + WSAFinalNamespace + `"><wsa:ReferenceParameters/><wsa:ReferenceParameters><axis2:ServiceGroupId xmlns:axis2="` + NamespaceAxis2 + `">late</axis2:ServiceGroupId></wsa:ReferenceParameters></wsa:ReplyTo>`, "", false},
		{"not a reference parameter", `<axis2:ServiceGroupId xmlns:axis2="` + NamespaceAxis2 + `">top</axis2:ServiceGroupId>`, "", false},
		{"other namespace", sgid("urn:not-wsa", "x"), "", false},
		{"nested text ignored", `<wsa:ReplyTo xmlns:wsa="` + WSAFinalNamespace + `"><wsa:ReferenceParameters><axis2:ServiceGroupId xmlns:axis2="` + NamespaceAxis2 + `">a<b>no</b>c</axis2:ServiceGroupId></wsa:ReferenceParameters></wsa:ReplyTo>`, "ac", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, found, err := ReplyToParameter(strings.NewReader(envelopeWith(tc.header, 10)), "", "", 64<<10, serviceGroupID)
			if text != tc.want || found != tc.found || err != nil {
				t.Errorf("ReplyToParameter = %q, %v (err %v); want %q, %v", text, found, err, tc.want, tc.found)
			}
		})
	}
}

// FuzzPeekBlockEncoded: for an envelope sent gzip, deflate or raw deflate
// compressed, as the root part of an MTOM message after an attachment, or
// both, PeekBlock reads no more than the limit, gives the body back byte for
// byte, and what it finds is what a scan of the envelope sent plain finds.
func FuzzPeekBlockEncoded(f *testing.F) {
	env := envelopeWith(`<t:ID xmlns:t="`+testNS+`">x</t:ID>`, 10)
	for form := range uint8(8) {
		f.Add([]byte(env), []byte("\x89PNG\x00\xff"), form, uint16(64<<10-1))
		f.Add([]byte(env), bytes.Repeat([]byte{0}, 4000), form, uint16(1<<10))
	}
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`+env), []byte(""), uint8(5), uint16(300))
	f.Add([]byte(`<e:Envelope xmlns:e="`+Namespace11+`"><e:Header><!--`), []byte("--MIMEBoundary"), uint8(6), uint16(100))
	const boundary = "MIMEBoundary"
	encodings := [...]struct{ name, header string }{{"", ""}, {"gzip", "gzip"}, {"deflate", "deflate"}, {"raw deflate", "deflate"}}
	f.Fuzz(func(t *testing.T, envelope, attachment []byte, form uint8, limit uint16) {
		lim := int(limit) + 1
		enc, mtom := encodings[form%4], form&4 != 0
		contentType, body := "text/xml", envelope
		if mtom {
			contentType = `multipart/related; type="application/xop+xml"; boundary="` + boundary + `"; start="<root>"`
			body = slices.Concat([]byte("--"+boundary+"\r\nContent-ID: <att>\r\n\r\n"), attachment,
				[]byte("\r\n--"+boundary+"\r\nContent-ID: <root>\r\n\r\n"), envelope, []byte("\r\n--"+boundary+"--\r\n"))
		}
		if enc.name != "" {
			body = compress(t, enc.name, body)
		}
		counted := &countingReader{r: bytes.NewReader(body)}
		text, found, replay, _ := PeekBlock(io.NopCloser(counted), int64(len(body)), contentType, enc.header, lim, testBlock)
		if counted.n > lim {
			t.Fatalf("read %d bytes of the body, limit %d", counted.n, lim)
		}
		got, err := io.ReadAll(replay)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("replay: %d bytes, err %v; want the %d bytes sent", len(got), err, len(body))
		}
		if !found || bytes.Contains(envelope, []byte(boundary)) || bytes.Contains(attachment, []byte(boundary)) {
			return
		}
		plainText, plainFound, _, _ := PeekBlock(io.NopCloser(bytes.NewReader(envelope)), int64(len(envelope)), "text/xml", "", len(envelope)+1, testBlock)
		if !plainFound || !bytes.Equal(plainText, text) {
			t.Fatalf("encoded (form %d) found %q; plain found %q (%v)", form, text, plainText, plainFound)
		}
	})
}
