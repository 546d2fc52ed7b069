package sessionaffinity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soaptest"
)

const (
	synNS      = soaptest.SynapseNS
	soap11Open = soaptest.Open11
	soap12Open = soaptest.Open12
	envClose   = soaptest.Close
	bodyQuote  = soaptest.BodyQuote
)

var (
	clientID = soaptest.ClientID
	env11    = soaptest.Env11
	env12    = soaptest.Env12
)

// countingBody is a request body that counts the bytes handed out and records
// Close. It optionally fails after failAfter bytes.
type countingBody struct {
	r         io.Reader
	n         int64
	reads     int
	closed    int
	failAfter int64 // < 0: never
	failErr   error
}

func newCountingBody(r io.Reader) *countingBody {
	return &countingBody{r: r, failAfter: -1}
}

func (c *countingBody) Read(p []byte) (int, error) {
	c.reads++
	if c.failAfter >= 0 {
		if c.n >= c.failAfter {
			return 0, c.failErr
		}
		if rem := c.failAfter - c.n; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingBody) Close() error {
	c.closed++
	return nil
}

func mustIDSource(t testing.TB, peekLimit, maxIDLength int) *IDSource {
	t.Helper()
	src, err := NewIDSource([]string{DefaultHeader}, DefaultSOAPHeader, peekLimit, maxIDLength)
	if err != nil {
		t.Fatalf("NewIDSource: %v", err)
	}
	return src
}

// readerShapes feed the same bytes in different chunkings.
var readerShapes = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one_byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data_err", iotest.DataErrReader},
}

func billionLaughs(use bool) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
	prev := "lol"
	for i := 1; i <= 9; i++ {
		name := fmt.Sprintf("lol%d", i)
		b.WriteString(`<!ENTITY ` + name + ` "`)
		for range 10 {
			b.WriteString("&" + prev + ";")
		}
		b.WriteString(`">`)
		prev = name
	}
	b.WriteString(`]>`)
	id := "123"
	if use {
		id = "&lol9;"
	}
	b.WriteString(env11(clientID(id)))
	return b.String()
}

func deepHeader(depth int, id string) string {
	return env11(`<x:deep xmlns:x="urn:x">` + strings.Repeat("<a>", depth) + "v" +
		strings.Repeat("</a>", depth) + `</x:deep>` + clientID(id))
}

type peekCase struct {
	name    string
	in      string
	limit   int // 0: DefaultPeekLimit
	maxID   int // 0: DefaultMaxIDLength
	wantID  string
	outcome PeekOutcome
}

func peekCases() []peekCase {
	longID := strings.Repeat("x", DefaultMaxIDLength)
	return []peekCase{
		{name: "soap11", in: env11(clientID("123")), wantID: "123", outcome: PeekFound},
		{name: "soap12", in: env12(clientID("123")), wantID: "123", outcome: PeekFound},
		{name: "other_prefix", in: `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header><s:ClientID xmlns:s="` + synNS + `">p</s:ClientID></e:Header><e:Body/></e:Envelope>`, wantID: "p", outcome: PeekFound},
		{name: "default_namespace_soap11", in: `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header><ClientID xmlns="` + synNS + `">d</ClientID></Header><Body/></Envelope>`, wantID: "d", outcome: PeekFound},
		{name: "default_namespace_soap12", in: `<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><ClientID xmlns="` + synNS + `">d12</ClientID></Header><Body/></Envelope>`, wantID: "d12", outcome: PeekFound},
		{name: "prefix_declared_on_envelope", in: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:syn="` + synNS + `"><soapenv:Header><syn:ClientID>e</syn:ClientID></soapenv:Header><soapenv:Body/></soapenv:Envelope>`, wantID: "e", outcome: PeekFound},
		{name: "attributes_on_block", in: env11(`<syn:ClientID xmlns:syn="` + synNS + `" soapenv:mustUnderstand="0" a='b'>attr</syn:ClientID>`), wantID: "attr", outcome: PeekFound},
		{name: "whitespace_trimmed", in: env11(clientID("\n\t  abc-42 \r\n ")), wantID: "abc-42", outcome: PeekFound},
		{name: "inner_space_kept", in: env11(clientID(" a b ")), wantID: "a b", outcome: PeekFound},
		{name: "xml_entities_decoded", in: env11(clientID("a&amp;b&#65;")), wantID: "a&bA", outcome: PeekFound},
		{name: "empty_self_closing", in: env11(`<syn:ClientID xmlns:syn="` + synNS + `"/>`), outcome: PeekNoID},
		{name: "empty", in: env11(clientID("")), outcome: PeekNoID},
		{name: "whitespace_only", in: env11(clientID(" \n\t ")), outcome: PeekNoID},
		{name: "first_block_wins", in: env11(clientID("first") + clientID("second")), wantID: "first", outcome: PeekFound},
		{name: "first_block_empty_decides", in: env11(clientID(" ") + clientID("second")), outcome: PeekNoID},
		{name: "after_other_blocks", in: env11(`<wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing">urn:getQuote</wsa:Action><wsse:Security xmlns:wsse="urn:wsse"><wsse:UsernameToken><wsse:Username>u</wsse:Username></wsse:UsernameToken></wsse:Security>` + clientID("late")), wantID: "late", outcome: PeekFound},
		{name: "block_in_other_namespace", in: env11(`<o:ClientID xmlns:o="urn:other">x</o:ClientID>`), outcome: PeekNoID},
		{name: "block_without_namespace", in: env11(`<ClientID>x</ClientID>`), outcome: PeekNoID},
		{name: "other_block_then_match", in: env11(`<o:ClientID xmlns:o="urn:other">x</o:ClientID>` + clientID("y")), wantID: "y", outcome: PeekFound},
		{name: "nested_in_other_block", in: env11(`<o:wrap xmlns:o="urn:other">` + clientID("nested") + `</o:wrap>`), outcome: PeekNoID},
		{name: "child_elements_ignored", in: env11(`<syn:ClientID xmlns:syn="` + synNS + `"><x>1</x>2<y/></syn:ClientID>`), wantID: "2", outcome: PeekFound},
		{name: "no_header", in: env11("-"), outcome: PeekNoID},
		{name: "empty_header", in: env11(""), outcome: PeekNoID},
		{name: "id_in_body", in: soap11Open + `<soapenv:Body>` + clientID("body") + `</soapenv:Body>` + envClose, outcome: PeekNoID},
		{name: "id_after_header", in: soap11Open + `<soapenv:Header/>` + clientID("out") + bodyQuote + envClose, outcome: PeekNoID},
		{name: "id_before_header", in: soap11Open + clientID("out") + `<soapenv:Header>` + clientID("in") + `</soapenv:Header>` + envClose, outcome: PeekNoID},
		{name: "header_wrong_soap_version", in: soap11Open + `<h:Header xmlns:h="http://www.w3.org/2003/05/soap-envelope">` + clientID("v") + `</h:Header>` + envClose, outcome: PeekNoID},
		{name: "prefix_rebound_on_header", in: `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header xmlns:e="urn:not-soap">` + clientID("v") + `</e:Header></e:Envelope>`, outcome: PeekNoID},
		{name: "cdata", in: env11(clientID("<![CDATA[ c<d>&e ]]>")), wantID: "c<d>&e", outcome: PeekFound},
		{name: "cdata_mixed", in: env11(clientID("a<![CDATA[b]]>c")), wantID: "abc", outcome: PeekFound},
		{name: "comment_inside_id", in: env11(clientID("a<!-- hidden -->b")), wantID: "ab", outcome: PeekFound},
		{name: "prolog_comment_pi", in: `<?xml version="1.0" encoding="UTF-8"?>` + "\n<!-- a comment -->\n<?some-pi data?>\n" + env11(clientID("pro")), wantID: "pro", outcome: PeekFound},
		{name: "utf8_lowercase_declared", in: `<?xml version="1.0" encoding="utf-8"?>` + env11(clientID("u")), wantID: "u", outcome: PeekFound},
		{name: "utf8_id", in: env12(clientID("sessão-日本")), wantID: "sessão-日本", outcome: PeekFound},
		{name: "iso_8859_1_not_decoded", in: `<?xml version="1.0" encoding="ISO-8859-1"?>` + env11(clientID("caf\xe9")), outcome: PeekMalformed},
		// An ASCII-compatible alias of UTF-8 is read while the bytes are ASCII.
		{name: "iso_8859_1_ascii_id", in: `<?xml version="1.0" encoding="ISO-8859-1"?>` + env11(clientID("123")), wantID: "123", outcome: PeekFound},
		{name: "us_ascii_declared", in: `<?xml version="1.0" encoding="US-ASCII"?>` + env11(clientID("a1")), wantID: "a1", outcome: PeekFound},
		{name: "utf8_alias_declared", in: `<?xml version="1.0" encoding="utf8"?>` + env12(clientID("sessão")), wantID: "sessão", outcome: PeekFound},
		{name: "utf16_not_decoded", in: `<?xml version="1.0" encoding="UTF-16"?>` + env11(clientID("1")), outcome: PeekMalformed},
		{name: "doctype_entity_expansion", in: billionLaughs(true), outcome: PeekMalformed},
		{name: "external_entity", in: `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + env11(clientID("&xxe;")), outcome: PeekMalformed},
		{name: "deep_nesting_in_header", in: deepHeader(5000, "deep"), limit: 64 << 10, wantID: "deep", outcome: PeekFound},
		{name: "deep_nesting_over_limit", in: deepHeader(50000, "deep"), outcome: PeekOverLimit},
		{name: "id_at_max_length", in: env11(clientID(longID)), wantID: longID, outcome: PeekFound},
		{name: "id_at_max_length_after_trim", in: env11(clientID("  " + longID + "\n")), wantID: longID, outcome: PeekFound},
		{name: "id_too_long", in: env11(clientID(longID + "y")), outcome: PeekNoID},
		{name: "id_too_long_small_max", in: env11(clientID("12345")), maxID: 4, outcome: PeekNoID},
		{name: "root_not_envelope", in: `<foo xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header>` + clientID("x") + `</Header></foo>`, outcome: PeekNotSOAP},
		{name: "envelope_no_namespace", in: `<Envelope><Header>` + clientID("x") + `</Header></Envelope>`, outcome: PeekNotSOAP},
		{name: "envelope_unbound_prefix", in: `<soapenv:Envelope><soapenv:Header>` + clientID("x") + `</soapenv:Header></soapenv:Envelope>`, outcome: PeekNotSOAP},
		{name: "envelope_other_namespace", in: `<s:Envelope xmlns:s="` + synNS + `"><s:Header>` + clientID("x") + `</s:Header></s:Envelope>`, outcome: PeekNotSOAP},
		{name: "pox", in: `<getQuote><symbol>IBM</symbol></getQuote>`, outcome: PeekNotSOAP},
		{name: "empty_body", in: ``, outcome: PeekMalformed},
		{name: "not_xml", in: `{"clientId": "123"}`, outcome: PeekMalformed},
		{name: "mismatched_tags", in: soap11Open + `<soapenv:Header>` + `<syn:ClientID xmlns:syn="` + synNS + `">1</syn:Other>`, outcome: PeekMalformed},
		{name: "truncated_in_header", in: soap11Open + `<soapenv:Header><syn:ClientID xmlns:syn="` + synNS + `">12`, outcome: PeekMalformed},
		{name: "truncated_after_open", in: soap11Open, outcome: PeekMalformed},
		{name: "undefined_entity", in: env11(clientID("&nope;")), outcome: PeekMalformed},
		{name: "garbage_after_header_ignored", in: soap11Open + `<soapenv:Header>` + clientID("g") + `</soapenv:Header><<<not xml`, wantID: "g", outcome: PeekFound},
		{name: "header_over_limit", in: env11(`<x:big xmlns:x="urn:x">` + strings.Repeat("z", 1000) + `</x:big>` + clientID("late")), limit: 512, outcome: PeekOverLimit},
		{name: "header_fits_limit", in: env11(clientID("fits")), limit: len(env11(clientID("fits"))) - len(bodyQuote) - len(envClose), wantID: "fits", outcome: PeekFound},
		{name: "big_header_default_limit", in: env11(`<x:big xmlns:x="urn:x">` + strings.Repeat("z", 100<<10) + `</x:big>` + clientID("late")), outcome: PeekOverLimit},
	}
}

func (c peekCase) source(t testing.TB) *IDSource {
	limit, maxID := c.limit, c.maxID
	if limit == 0 {
		limit = DefaultPeekLimit
	}
	if maxID == 0 {
		maxID = DefaultMaxIDLength
	}
	return mustIDSource(t, limit, maxID)
}

func TestPeekID(t *testing.T) {
	for _, tc := range peekCases() {
		for _, shape := range readerShapes {
			t.Run(tc.name+"/"+shape.name, func(t *testing.T) {
				src := tc.source(t)
				body := newCountingBody(shape.wrap(strings.NewReader(tc.in)))
				id, outcome, replay := src.PeekID(body, -1, "", "")
				if id != tc.wantID || outcome != tc.outcome {
					t.Errorf("PeekID = (%q, %v), want (%q, %v)", id, outcome, tc.wantID, tc.outcome)
				}
				if (outcome == PeekFound) != (id != "") {
					t.Errorf("outcome %v with id %q", outcome, id)
				}
				if body.n > int64(src.peekLimit) {
					t.Errorf("peek consumed %d bytes from the source, limit %d", body.n, src.peekLimit)
				}
				if body.closed != 0 {
					t.Errorf("PeekID closed the source")
				}
				got, err := io.ReadAll(replay)
				if err != nil {
					t.Fatalf("reading replay: %v", err)
				}
				if !bytes.Equal(got, []byte(tc.in)) {
					t.Errorf("replay differs from input:\n got %d bytes %.200q\nwant %d bytes %.200q", len(got), got, len(tc.in), tc.in)
				}
				if err := replay.Close(); err != nil {
					t.Errorf("replay Close: %v", err)
				}
				if len(tc.in) > 0 && body.closed != 1 {
					t.Errorf("source closed %d times after reading the replay and closing it, want 1", body.closed)
				}
			})
		}
	}
}

// TestPeekSOAPReplayReader checks the replay body with the standard reader
// conformance test, after peeks that stop at different points.
func TestPeekSOAPReplayReader(t *testing.T) {
	for _, tc := range peekCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, _, replay := tc.source(t).PeekID(io.NopCloser(iotest.HalfReader(strings.NewReader(tc.in))), -1, "", "")
			if err := iotest.TestReader(replay, []byte(tc.in)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPeekSOAPStopsEarly(t *testing.T) {
	head := env11(clientID("top"))
	head = head[:strings.Index(head, "<soapenv:Body>")]
	big := []byte(head + `<soapenv:Body><data>` + strings.Repeat("0123456789abcdef", (10<<20)/16) + `</data></soapenv:Body>` + envClose)
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	for _, shape := range readerShapes {
		t.Run(shape.name, func(t *testing.T) {
			body := newCountingBody(shape.wrap(bytes.NewReader(big)))
			id, outcome, replay := src.PeekID(body, -1, "", "")
			if id != "top" || outcome != PeekFound {
				t.Fatalf("PeekID = (%q, %v), want (top, found)", id, outcome)
			}
			if body.n > 8<<10 {
				t.Errorf("peek of a 10 MB body with the id at the top consumed %d bytes, want <= 8 KiB", body.n)
			}
			got, err := io.ReadAll(replay)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, big) {
				t.Errorf("replay of the 10 MB body differs (got %d bytes, want %d)", len(got), len(big))
			}
		})
	}
}

func TestPeekSOAPOverLimitNeverReadsBeyond(t *testing.T) {
	for _, limit := range []int{1, 2, 100, 511, 4096, 4097, 10000, DefaultPeekLimit} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			in := env11(`<x:big xmlns:x="urn:x">` + strings.Repeat("z", 2*limit+8192) + `</x:big>` + clientID("late"))
			src := mustIDSource(t, limit, DefaultMaxIDLength)
			for _, shape := range readerShapes {
				body := newCountingBody(shape.wrap(strings.NewReader(in)))
				id, outcome, replay := src.PeekID(body, -1, "", "")
				if id != "" || outcome != PeekOverLimit {
					t.Errorf("%s: PeekID = (%q, %v), want (\"\", over_limit)", shape.name, id, outcome)
				}
				if body.n > int64(limit) {
					t.Errorf("%s: consumed %d bytes from the source, limit %d", shape.name, body.n, limit)
				}
				if got, _ := io.ReadAll(replay); string(got) != in {
					t.Errorf("%s: replay differs from input", shape.name)
				}
			}
		})
	}
}

func TestPeekSOAPReadError(t *testing.T) {
	in := env11(clientID("123"))
	boom := errors.New("connection reset")
	for _, failAfter := range []int64{0, 1, 50, int64(strings.Index(in, "123")) + 1} {
		t.Run(fmt.Sprint(failAfter), func(t *testing.T) {
			body := newCountingBody(strings.NewReader(in))
			body.failAfter, body.failErr = failAfter, boom
			id, outcome, replay := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength).PeekID(body, -1, "", "")
			if id != "" || outcome != PeekReadError {
				t.Errorf("PeekID = (%q, %v), want (\"\", read_error)", id, outcome)
			}
			got, err := io.ReadAll(replay)
			if !errors.Is(err, boom) {
				t.Errorf("replay error = %v, want %v", err, boom)
			}
			if string(got) != in[:failAfter] {
				t.Errorf("replay yielded %q before the error, want %q", got, in[:failAfter])
			}
		})
	}
}

// A source that fails once (a timeout) and then goes on: the replay still
// yields every byte.
func TestPeekSOAPTransientReadError(t *testing.T) {
	in := env11(clientID("123"))
	body := newCountingBody(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(in))))
	id, outcome, replay := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength).PeekID(body, -1, "", "")
	if id != "" || outcome != PeekReadError {
		t.Errorf("PeekID = (%q, %v), want (\"\", read_error)", id, outcome)
	}
	got, err := io.ReadAll(replay)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != in {
		t.Errorf("replay = %q, want %q", got, in)
	}
}

func TestPeekSOAPReplayClose(t *testing.T) {
	in := env11(clientID("123")) + strings.Repeat(" ", 10000) // more than the first peek chunk
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	tests := []struct {
		name       string
		readBefore int // bytes read from the replay before Close; -1: none
		wantClosed int
	}{
		{"close_before_read", -1, 0},
		{"close_after_one_byte", 1, 1},
		{"close_after_prefix", 4096, 1},
		{"close_after_all", len(in) + 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := newCountingBody(strings.NewReader(in))
			_, _, replay := src.PeekID(body, -1, "", "")
			if tc.readBefore >= 0 {
				if _, err := io.ReadFull(replay, make([]byte, min(tc.readBefore, len(in)))); err != nil {
					t.Fatal(err)
				}
			}
			if err := replay.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if body.closed != tc.wantClosed {
				t.Errorf("source closed %d times, want %d", body.closed, tc.wantClosed)
			}
		})
	}

	// A retry after a dial error: the transport closes the unread body, and
	// the next attempt reads the same body from the start.
	t.Run("retry_after_close_before_read", func(t *testing.T) {
		body := newCountingBody(strings.NewReader(in))
		_, _, replay := src.PeekID(body, -1, "", "")
		for range 3 {
			if err := replay.Close(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := io.ReadAll(replay)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != in {
			t.Errorf("replay after Close = %d bytes, want the %d of the input", len(got), len(in))
		}
		if body.closed != 0 {
			t.Errorf("source closed %d times before the replay was closed after reading", body.closed)
		}
	})

	// When the peek got nothing (the source failed at once), a read that
	// yields nothing does not start the body either.
	t.Run("failed_read_does_not_start", func(t *testing.T) {
		body := newCountingBody(strings.NewReader(in))
		body.failAfter, body.failErr = 0, errors.New("boom")
		_, _, replay := src.PeekID(body, -1, "", "")
		if _, err := replay.Read(make([]byte, 10)); err == nil {
			t.Fatal("replay read of a failing body returned no error")
		}
		_ = replay.Close()
		if body.closed != 0 {
			t.Errorf("source closed although nothing was read from it")
		}
	})
}

func TestPeekSOAPWithoutSOAPHeader(t *testing.T) {
	src, err := NewIDSource([]string{DefaultHeader}, "", DefaultPeekLimit, DefaultMaxIDLength)
	if err != nil {
		t.Fatal(err)
	}
	in := env11(clientID("123"))
	id, outcome, replay := src.PeekID(io.NopCloser(strings.NewReader(in)), -1, "", "")
	if id != "" || outcome != PeekNoID {
		t.Errorf("PeekID without a SOAP header name = (%q, %v), want (\"\", no_id)", id, outcome)
	}
	if got, _ := io.ReadAll(replay); string(got) != in {
		t.Errorf("replay differs")
	}
}

func TestPeekSOAPCustomQName(t *testing.T) {
	src, err := NewIDSource(nil, "{urn:acme}Session", DefaultPeekLimit, DefaultMaxIDLength)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in     string
		wantID string
	}{
		{env12(`<a:Session xmlns:a="urn:acme">s1</a:Session>`), "s1"},
		{env12(clientID("syn")), ""},
		{env12(`<a:session xmlns:a="urn:acme">case</a:session>`), ""},
	} {
		id, _, _ := src.PeekID(io.NopCloser(strings.NewReader(tc.in)), -1, "", "")
		if id != tc.wantID {
			t.Errorf("PeekID(%q) id = %q, want %q", tc.in, id, tc.wantID)
		}
	}

	noNS, err := NewIDSource(nil, "Session", DefaultPeekLimit, DefaultMaxIDLength)
	if err != nil {
		t.Fatal(err)
	}
	if id, _, _ := noNS.PeekID(io.NopCloser(strings.NewReader(env11(`<Session>plain</Session>`))), -1, "", ""); id != "plain" {
		t.Errorf("no-namespace QName: id = %q, want plain", id)
	}
}

func TestPeekOutcomeString(t *testing.T) {
	for o, want := range map[PeekOutcome]string{
		PeekFound: "found", PeekNoID: "no_id", PeekNotSOAP: "not_soap", PeekMalformed: "malformed",
		PeekOverLimit: "over_limit", PeekReadError: "read_error", PeekOutcome(99): "unknown",
	} {
		if got := o.String(); got != want {
			t.Errorf("PeekOutcome(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}

// chunkReader hands out at most size bytes per Read.
type chunkReader struct {
	r    io.Reader
	size int
}

func (c chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.size {
		p = p[:c.size]
	}
	return c.r.Read(p)
}

// FuzzPeekID: for any bytes, peek limit, read chunking and read failure,
// PeekID never panics, never takes more than the limit from the body, and
// hands on a body that yields exactly the input (up to the failure, then the
// failure), that leaves the original open when closed before being read (as
// the transport does on a dial error before a retry) and closes it after.
func FuzzPeekID(f *testing.F) {
	for _, in := range []string{
		env11(clientID("123")),
		env12(clientID("  abc  ")),
		env11(clientID("first") + clientID("second")),
		env11(clientID("<![CDATA[x]]>")),
		`<?xml version="1.0" encoding="ISO-8859-1"?>` + env11(clientID("1")),
		`<?xml version="1.0" encoding="UTF-16"?>` + env11(clientID("1")),
		billionLaughs(true),
		`<!DOCTYPE e [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]>` + env11(clientID("&x;")),
		deepHeader(50, "d"),
		env11(`<h a="` + strings.Repeat("v", 300) + `"/>` + clientID("attr")),
		env11(`<` + strings.Repeat("n", 300) + `/>` + clientID("name")),
		env11(`<h` + strings.Repeat(` xmlns:p="urn:p"`, 20) + `/>` + clientID("ns")),
		env11(clientID("bad\xff\xfeutf8")),
		soap11Open + `<soapenv:Body>` + clientID("body") + `</soapenv:Body>` + envClose,
		`<foo/>`,
		`<soapenv:Envelope`,
		"",
	} {
		f.Add([]byte(in), uint32(DefaultPeekLimit-1), uint8(63), uint32(math.MaxUint32))
		f.Add([]byte(in), uint32(63), uint8(0), uint32(math.MaxUint32))
		f.Add([]byte(in), uint32(DefaultPeekLimit-1), uint8(7), uint32(len(in)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint32, chunk uint8, fail uint32) {
		peekLimit := int(limit%DefaultPeekLimit) + 1
		const maxID = 16
		src := mustIDSource(t, peekLimit, maxID)
		boom := errors.New("connection reset")
		body := newCountingBody(chunkReader{bytes.NewReader(data), int(chunk)%64 + 1})
		want, wantErr := data, error(nil)
		if int64(fail) < int64(len(data)) {
			body.failAfter, body.failErr = int64(fail), boom
			want, wantErr = data[:fail], boom
		}
		id, outcome, replay := src.PeekID(body, -1, "", "")
		if body.n > int64(peekLimit) {
			t.Fatalf("consumed %d bytes from the source, limit %d", body.n, peekLimit)
		}
		if outcome < PeekFound || outcome > PeekReadError {
			t.Fatalf("unknown outcome %d", outcome)
		}
		if outcome == PeekReadError && (wantErr == nil || body.n < body.failAfter) {
			t.Fatalf("read_error after %d bytes from a source that fails after %d (-1: never)", body.n, body.failAfter)
		}
		if (outcome == PeekFound) != (id != "") {
			t.Fatalf("outcome %v with id %q", outcome, id)
		}
		if id != "" && (id != strings.TrimSpace(id) || len(id) > maxID) {
			t.Fatalf("found id %q: not trimmed or longer than %d", id, maxID)
		}
		if err := replay.Close(); err != nil || body.closed != 0 {
			t.Fatalf("closing the unread replay: err %v, original closed %d times; want it left open", err, body.closed)
		}
		got, err := io.ReadAll(replay)
		if !errors.Is(err, wantErr) {
			t.Fatalf("reading replay: error %v, want %v", err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("replay differs from input: got %q, want %q", got, want)
		}
		if _ = replay.Close(); len(want) > 0 && body.closed != 1 {
			t.Fatalf("closing the replay after reading closed the original %d times, want once", body.closed)
		}
	})
}

func BenchmarkPeekID(b *testing.B) {
	pad := func(n int) string { return strings.Repeat("0123456789abcdef", n/16) }
	head := soap11Open + `<soapenv:Header>` + clientID("123") + `</soapenv:Header>`
	cases := []struct {
		name string
		in   []byte
	}{
		{"1KB", []byte(head + `<soapenv:Body><d>` + pad(1<<10-len(head)-60) + `</d></soapenv:Body>` + envClose)},
		{"64KB", []byte(head + `<soapenv:Body><d>` + pad(64<<10) + `</d></soapenv:Body>` + envClose)},
		{"10MB_id_at_top", []byte(head + `<soapenv:Body><d>` + pad(10<<20) + `</d></soapenv:Body>` + envClose)},
	}
	src := mustIDSource(b, DefaultPeekLimit, DefaultMaxIDLength)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			// One body, rewound for each call, so that only the peek's own
			// allocations are counted.
			r := bytes.NewReader(bc.in)
			body := io.NopCloser(r)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(bc.in)
				id, outcome, _ := src.PeekID(body, -1, "", "")
				if outcome != PeekFound || id != "123" {
					b.Fatalf("PeekID = (%q, %v)", id, outcome)
				}
			}
		})
	}
}

// A 1 KB envelope costs two allocations: the peek and the id.
func TestPeekSOAPAllocations(t *testing.T) {
	in := []byte(env11(clientID("123")) + strings.Repeat(" ", 1024))
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	r := bytes.NewReader(in)
	body := io.NopCloser(r)
	if allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		if id, _, _ := src.PeekID(body, -1, "", ""); id != "123" {
			panic(id)
		}
	}); allocs > 2 {
		t.Errorf("PeekID of a 1 KB envelope: %v allocations, want at most 2", allocs)
	}
}
