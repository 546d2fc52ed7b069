package soap

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soaptest"
)

const (
	soap11Open = soaptest.Open11
	soap12Open = soaptest.Open12
	envClose   = soaptest.Close
	bodyQuote  = soaptest.BodyQuote
	testLimit  = 64 << 10
)

var (
	clientID     = soaptest.ClientID
	env11        = soaptest.Env11
	env12        = soaptest.Env12
	clientIDName = xml.Name{Space: soaptest.SynapseNS, Local: "ClientID"}
)

const (
	wsaFinalDecl = ` xmlns:wsa="` + WSAFinalNamespace + `"`
	testTo       = "http://127.0.0.1:9001/services/LB"
	testMsgID    = "urn:uuid:5b3d7f7e-0000-4000-8000-000000000001"
)

var testHeaders = AddressingHeaders{To: testTo, MessageID: testMsgID, Action: "urn:placeOrder"}

// finalBlocks is what the final version writes for testHeaders with prefix p.
func finalBlocks(p string) string {
	return "<" + p + ":To>" + testTo + "</" + p + ":To><" + p + ":MessageID>" + testMsgID + "</" + p + ":MessageID><" +
		p + ":Action>urn:placeOrder</" + p + ":Action>"
}

func mustAddressing(t testing.TB, version string, preserve bool) *Addressing {
	t.Helper()
	a, err := NewAddressing(version, preserve)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// address reads in, at most limit bytes of it, and returns the addressed
// body, checking the growth it reports, and why the Header could not be read.
func address(t *testing.T, limit int, a *Addressing, in string, h AddressingHeaders) (*Message, string, error) {
	t.Helper()
	m, _, readErr := ReadMessage(io.NopCloser(strings.NewReader(in)), limit, clientIDName)
	body, growth := m.Addressed(a, h)
	out, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if growth != len(out)-len(in) {
		t.Errorf("growth %d, but the body grew by %d", growth, len(out)-len(in))
	}
	return m, string(out), readErr
}

func TestAddressedRewrites(t *testing.T) {
	const (
		env11Open = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`
		subNS     = `xmlns:wsa="` + WSASubmissionNamespace + `"`
		clientWSA = `<wsa:To>http://client/</wsa:To><wsa:MessageID>urn:uuid:client</wsa:MessageID><wsa:Action>urn:client</wsa:Action><wsa:ReplyTo><wsa:Address>http://client/reply</wsa:Address></wsa:ReplyTo><wsa:RelatesTo>urn:uuid:earlier</wsa:RelatesTo>`
	)
	cases := []struct {
		name     string
		version  string
		preserve bool
		headers  AddressingHeaders
		in, want string
	}{{
		name: "soap11_header_with_clientid",
		in:   env11(clientID("123")),
		want: soap11Open + `<soapenv:Header` + wsaFinalDecl + `>` + finalBlocks("wsa") + clientID("123") + `</soapenv:Header>` + bodyQuote + envClose,
	}, {
		name: "soap12_no_header_created",
		in:   env12("-"),
		want: soap12Open + `<soapenv:Header` + wsaFinalDecl + `>` + finalBlocks("wsa") + `</soapenv:Header>` + bodyQuote + envClose,
	}, {
		name: "default_namespace_envelope",
		in:   `<?xml version="1.0"?>` + "\n" + `<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"> <Body/></Envelope>`,
		want: `<?xml version="1.0"?>` + "\n" + `<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header` + wsaFinalDecl + `>` + finalBlocks("wsa") + `</Header> <Body/></Envelope>`,
	}, {
		name: "self_closing_header",
		in:   env11Open + `<soapenv:Header />` + bodyQuote + envClose,
		want: env11Open + `<soapenv:Header ` + wsaFinalDecl + `>` + finalBlocks("wsa") + `</soapenv:Header>` + bodyQuote + envClose,
	}, {
		name: "client_blocks_replaced",
		in:   env11(`<wsa:To` + wsaFinalDecl + `>http://client/</wsa:To> ` + clientID("1") + `<wsa:Action` + wsaFinalDecl + `>urn:client</wsa:Action>`),
		want: soap11Open + `<soapenv:Header` + wsaFinalDecl + `>` + finalBlocks("wsa") + ` ` + clientID("1") + `</soapenv:Header>` + bodyQuote + envClose,
	}, {
		name:     "client_blocks_preserved",
		preserve: true,
		in:       env11(`<wsa:To` + wsaFinalDecl + `>http://client/</wsa:To>`),
		want: soap11Open + `<soapenv:Header` + wsaFinalDecl + `><wsa:MessageID>` + testMsgID + `</wsa:MessageID><wsa:Action>urn:placeOrder</wsa:Action>` +
			`<wsa:To` + wsaFinalDecl + `>http://client/</wsa:To></soapenv:Header>` + bodyQuote + envClose,
	}, {
		name: "declared_on_header_all_replaced_others_kept",
		in:   env11Open + `<soapenv:Header ` + wsaFinalDecl[1:] + `>` + clientWSA + `</soapenv:Header>` + bodyQuote + envClose,
		want: env11Open + `<soapenv:Header ` + wsaFinalDecl[1:] + `>` + finalBlocks("wsa") + `<wsa:RelatesTo>urn:uuid:earlier</wsa:RelatesTo></soapenv:Header>` + bodyQuote + envClose,
	}, {
		name: "other_version_kept_and_prefix_not_shadowed",
		in:   `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` + subNS + `><soapenv:Header><wsa:To>http://client/</wsa:To></soapenv:Header>` + bodyQuote + envClose,
		want: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` + subNS + `><soapenv:Header xmlns:wsa1="` + WSAFinalNamespace + `">` + finalBlocks("wsa1") + `<wsa:To>http://client/</wsa:To></soapenv:Header>` + bodyQuote + envClose,
	}, {
		name:    "submission_writes_anonymous_reply_to",
		version: addressingSubmission,
		in:      env11(`<wsa:ReplyTo ` + subNS + `><wsa:Address>http://client/</wsa:Address></wsa:ReplyTo>`),
		want: soap11Open + `<soapenv:Header ` + subNS + `>` + finalBlocks("wsa") +
			`<wsa:ReplyTo><wsa:Address>` + submissionAnonymous + `</wsa:Address></wsa:ReplyTo></soapenv:Header>` + bodyQuote + envClose,
	}, {
		name:    "values_escaped_and_empty_action_left_out",
		headers: AddressingHeaders{To: "http://h/p?a=1&b=<2>", MessageID: testMsgID},
		in:      env11("-"),
		want: soap11Open + `<soapenv:Header` + wsaFinalDecl + `><wsa:To>http://h/p?a=1&amp;b=&lt;2&gt;</wsa:To><wsa:MessageID>` + testMsgID +
			`</wsa:MessageID></soapenv:Header>` + bodyQuote + envClose,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.headers
			if h == (AddressingHeaders{}) {
				h = testHeaders
			}
			m, got, err := address(t, testLimit, mustAddressing(t, c.version, c.preserve), c.in, h)
			if !m.Addressable() {
				t.Fatalf("not addressable (%v)", err)
			}
			if got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
			if err := wellFormed(got); err != nil {
				t.Errorf("rewritten body is not well-formed: %v\n%s", err, got)
			}
		})
	}
}

// The submission expectation above reuses finalBlocks with the submission
// namespace declared: check that it is the namespace the blocks end up in.
func TestAddressedNamespaces(t *testing.T) {
	for version, ns := range map[string]string{addressingFinal: WSAFinalNamespace, addressingSubmission: WSASubmissionNamespace} {
		for _, in := range []string{env11(clientID("1")), env12("-")} {
			_, got, _ := address(t, testLimit, mustAddressing(t, version, false), in, testHeaders)
			blocks := headerBlocks(t, got)
			for _, local := range []string{"To", "MessageID", "Action"} {
				if blocks[xml.Name{Space: ns, Local: local}] == "" {
					t.Errorf("%s: no %s in namespace %s: %s", version, local, ns, got)
				}
			}
			if _, ok := blocks[xml.Name{Space: ns, Local: "ReplyTo"}]; ok != (version == addressingSubmission) {
				t.Errorf("%s: ReplyTo written %v: %s", version, ok, got)
			}
		}
	}
}

// headerBlocks parses a SOAP envelope and returns the text of each Header block.
func headerBlocks(t *testing.T, envelope string) map[xml.Name]string {
	t.Helper()
	var env struct {
		Header struct {
			Blocks []struct {
				XMLName xml.Name
				Text    string `xml:",innerxml"`
			} `xml:",any"`
		}
	}
	if err := xml.Unmarshal([]byte(envelope), &env); err != nil {
		t.Fatalf("parsing %s: %v", envelope, err)
	}
	out := map[xml.Name]string{}
	for _, b := range env.Header.Blocks {
		out[b.XMLName] = b.Text
	}
	return out
}

func wellFormed(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		if _, err := dec.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func TestAddressedLeavesOtherBodiesAlone(t *testing.T) {
	cases := map[string]string{
		"not_soap":        `<order><id>1</id></order>`,
		"not_xml":         `{"json": true}`,
		"malformed":       soap11Open + `<soapenv:Header><wsa:To>x</soapenv:Header>` + bodyQuote + envClose,
		"truncated":       soap11Open + `<soapenv:Header>`,
		"over_limit":      env11(`<x:big xmlns:x="urn:x">` + strings.Repeat("y", 2000) + `</x:big>`),
		"latin1":          `<?xml version="1.0" encoding="ISO-8859-1"?>` + env11(clientID("1")),
		"empty_envelope":  `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>`,
		"wrong_namespace": `<soapenv:Envelope xmlns:soapenv="urn:other"><soapenv:Body/></soapenv:Envelope>`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, got, err := address(t, 1024, mustAddressing(t, "", false), in, testHeaders)
			if m.Addressable() || err == nil {
				t.Errorf("addressable (error %v)", err)
			}
			if got != in {
				t.Errorf("body changed:\n%s\nwant\n%s", got, in)
			}
		})
	}
}

// A retry addresses the same message again: each rewrite starts from the
// original bytes, and the rest of the body is shared, not re-read.
func TestAddressedAgainForRetry(t *testing.T) {
	a := mustAddressing(t, "", false)
	in := env11(clientID("42"))
	m, text, err := ReadMessage(io.NopCloser(strings.NewReader(in)), testLimit, clientIDName)
	if text != "42" || err != nil {
		t.Fatalf("ClientID %q, error %v; want 42, nil", text, err)
	}
	first, _ := m.Addressed(a, AddressingHeaders{To: "http://first/", MessageID: testMsgID})
	// The transport closes the body of a failed dial without reading it.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, _ := m.Addressed(a, AddressingHeaders{To: "http://second/", MessageID: testMsgID})
	got, err := io.ReadAll(second)
	if err != nil {
		t.Fatal(err)
	}
	blocks := headerBlocks(t, string(got))
	if to := blocks[xml.Name{Space: WSAFinalNamespace, Local: "To"}]; to != "http://second/" {
		t.Errorf("To = %q after the retry, want http://second/: %s", to, got)
	}
	if n := strings.Count(string(got), ":To>"); n != 2 {
		t.Errorf("%d To tags, want one block: %s", n, got)
	}
}

// A large body streams: only the peeked start is rewritten and held; the rest
// is read from the original as the addressed body is read.
func TestAddressedStreamsLargeBody(t *testing.T) {
	const size = 10 << 20
	head := env11(clientID("big"))
	head = head[:len(head)-len(envClose)]
	tail := envClose
	filler := bytes.Repeat([]byte("<m:x xmlns:m=\"urn:m\">0123456789</m:x>"), (size-len(head)-len(tail))/36)
	in := io.MultiReader(strings.NewReader(head), bytes.NewReader(filler), strings.NewReader(tail))
	body := &countingBody{r: in}
	m, _, _ := ReadMessage(body, testLimit, clientIDName)
	if body.n > testLimit {
		t.Fatalf("the peek read %d bytes, more than the limit", body.n)
	}
	addressed, growth := m.Addressed(mustAddressing(t, "", false), testHeaders)
	h := sha256.New()
	n, err := io.Copy(h, addressed)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(head)+len(filler)+len(tail)) + int64(growth)
	if n != want || growth <= 0 {
		t.Errorf("read %d bytes (growth %d), want %d", n, growth, want)
	}
}

func TestNewAddressing(t *testing.T) {
	for _, v := range []string{"", "final", "submission"} {
		if _, err := NewAddressing(v, false); err != nil {
			t.Errorf("NewAddressing(%q): %v", v, err)
		}
	}
	for _, v := range []string{"Final", "2004/08", "member"} {
		if _, err := NewAddressing(v, false); err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("NewAddressing(%q) = %v, want an error naming it", v, err)
		}
	}
}

// FuzzAddressed: whatever the body, the rewrite never panics, leaves bodies it
// cannot address unchanged, and keeps a well-formed envelope well-formed.
func FuzzAddressed(f *testing.F) {
	f.Add(env11(clientID("1")))
	f.Add(env12("-"))
	f.Add(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body/></soapenv:Envelope>`)
	f.Add(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="urn:x"><e:Header xmlns:wsa1="urn:y"><wsa:To>a</wsa:To></e:Header></e:Envelope>`)
	a, _ := NewAddressing("submission", false)
	f.Fuzz(func(t *testing.T, in string) {
		m, _, _ := ReadMessage(io.NopCloser(strings.NewReader(in)), 4096, clientIDName)
		body, growth := m.Addressed(a, testHeaders)
		out, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if growth != len(out)-len(in) {
			t.Fatalf("growth %d, body grew by %d", growth, len(out)-len(in))
		}
		if !m.Addressable() {
			if string(out) != in {
				t.Fatalf("unaddressable body changed: %q -> %q", in, out)
			}
			return
		}
		if wellFormed(in) == nil {
			if err := wellFormed(string(out)); err != nil {
				t.Fatalf("well-formed %q became %q: %v", in, out, err)
			}
		}
	})
}

// BenchmarkAddressed measures the peek and the rewrite of the Header (the
// rest of the body is streamed by the caller, not part of the cost), next to
// the scan for the ClientID block alone.
func BenchmarkAddressed(b *testing.B) {
	pad := strings.Repeat("0123456789abcdef", (10<<20)/16)
	head := soap11Open + `<soapenv:Header>` + clientID("123") + `</soapenv:Header>`
	cases := []struct {
		name string
		in   []byte
	}{
		{"1KB", []byte(head + `<soapenv:Body><d>` + pad[:1<<10-len(head)-60] + `</d></soapenv:Body>` + envClose)},
		{"10MB", []byte(head + `<soapenv:Body><d>` + pad + `</d></soapenv:Body>` + envClose)},
	}
	a := mustAddressing(b, "", false)
	for _, bc := range cases {
		b.Run("id_only/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sc := newXMLHeaderScanner(bytes.NewReader(bc.in), testLimit)
				if !sc.Next() || sc.Block().Name != clientIDName {
					b.Fatal("no ClientID block")
				}
				if text, _ := sc.Text(); text != "123" {
					b.Fatal(text)
				}
			}
		})
		b.Run("addressed/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, _, _ := ReadMessage(io.NopCloser(bytes.NewReader(bc.in)), testLimit, clientIDName)
				if _, growth := m.Addressed(a, testHeaders); growth <= 0 {
					b.Fatal("not addressed")
				}
			}
		})
	}
}

// countingBody is a request body that counts the bytes read from it.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingBody) Close() error { return nil }
