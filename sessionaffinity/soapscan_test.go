package sessionaffinity

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// scanFast runs headerScanner alone over in, fed in pieces of chunk bytes as
// a body read in pieces would be.
func scanFast(src *IDSource, in []byte, chunk int) (string, PeekOutcome, scanStatus) {
	sc := headerScanner{want: src.soapHeader}
	for n := min(chunk, len(in)); ; n = min(n+chunk, len(in)) {
		st := sc.scan(in[:n])
		if st == scanDone {
			id, outcome := src.scanned(&sc, in)
			return id, outcome, st
		}
		if st != scanMore || n == len(in) {
			return "", 0, st
		}
	}
}

// scanXML is encoding/xml's answer for in, read whole.
func scanXML(src *IDSource, in []byte) (string, PeekOutcome) {
	return src.scanHeader(xml.NewDecoder(bytes.NewReader(in)), nil)
}

// The scanner answers the usual envelopes itself, in one piece or many, and
// leaves to encoding/xml only what it does not handle.
func TestHeaderScannerAnswersCommonEnvelopes(t *testing.T) {
	leftToXML := map[string]bool{
		"prolog_comment_pi": true, "iso_8859_1_not_decoded": true, "iso_8859_1_ascii_id": true,
		"doctype_entity_expansion": true, "external_entity": true, "deep_nesting_in_header": true,
		"deep_nesting_over_limit": true, "envelope_unbound_prefix": true, "empty_body": true,
		"not_xml": true, "mismatched_tags": true, "truncated_in_header": true, "truncated_after_open": true,
		"undefined_entity": true,
	}
	for _, tc := range peekCases() {
		if tc.outcome == PeekOverLimit {
			continue // the limit is PeekSOAP's, not the scanner's
		}
		src := tc.source(t)
		for _, chunk := range []int{1 << 20, 7} {
			id, outcome, st := scanFast(src, []byte(tc.in), chunk)
			switch {
			case leftToXML[tc.name] && st == scanDone:
				t.Errorf("%s: scanner answered (%q, %v); expected it to leave this to encoding/xml", tc.name, id, outcome)
			case !leftToXML[tc.name] && st != scanDone:
				t.Errorf("%s (pieces of %d): scanner left a common envelope to encoding/xml (status %d)", tc.name, chunk, st)
			case st == scanDone && (id != tc.wantID || outcome != tc.outcome):
				t.Errorf("%s: scanner = (%q, %v), want (%q, %v)", tc.name, id, outcome, tc.wantID, tc.outcome)
			}
		}
	}
}

// FuzzHeaderScannerMatchesEncodingXML: whatever the bytes, and however they
// arrive, when the scanner answers, encoding/xml answers the same.
func FuzzHeaderScannerMatchesEncodingXML(f *testing.F) {
	for _, tc := range peekCases() {
		f.Add([]byte(tc.in), uint8(0))
		f.Add([]byte(tc.in), uint8(3))
	}
	for _, in := range []string{
		env11(`<syn:ClientID xmlns:syn="` + synNS + `">a&#x41;&#66;&lt;&gt;&amp;&apos;&quot;` + "\r\n\rb</syn:ClientID>"),
		env11(`<syn:ClientID xmlns:syn="` + synNS + `"><![CDATA[ x ]]><!-- c --> y` + "\r" + `</syn:ClientID>`),
		`<?xml version='1.0' encoding='UTF-8' standalone="yes"?>` + env12(clientID("d")),
		`<e:Envelope xmlns:e="` + SOAP11Namespace + `"><e:Header xmlns:e=""><x/></e:Header></e:Envelope>`,
		`<Envelope xmlns="` + SOAP11Namespace + `"><Header><ClientID xmlns="` + synNS + `" xmlns:p="">i</ClientID></Header></Envelope>`,
		env11(`<syn:ClientID xmlns:syn="` + synNS + `" a="]]>">i</syn:ClientID>`),
		env11(clientID("a]]>b")),
		env11(clientID("&#0;")),
		env11(clientID("&#xD800;")),
		env11(clientID("\x01")),
	} {
		f.Add([]byte(in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		src := mustIDSource(t, DefaultPeekLimit, 16)
		id, outcome, st := scanFast(src, in, int(chunk)+1)
		if st != scanDone {
			return
		}
		wantID, wantOutcome := scanXML(src, in)
		if id != wantID || outcome != wantOutcome {
			t.Fatalf("scanner = (%q, %v), encoding/xml = (%q, %v) for %q", id, outcome, wantID, wantOutcome, in)
		}
	})
}

// A 1 KB envelope costs two allocations: the peek (reader, replay and first
// chunk) and the id.
func TestPeekSOAPAllocations(t *testing.T) {
	in := []byte(env11(clientID("123")) + strings.Repeat(" ", 1024))
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	r := bytes.NewReader(in)
	body := io.NopCloser(r)
	if allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		if id, _, _ := src.PeekSOAP(body); id != "123" {
			panic(id)
		}
	}); allocs > 2 {
		t.Errorf("PeekSOAP of a 1 KB envelope: %v allocations, want at most 2", allocs)
	}
}
