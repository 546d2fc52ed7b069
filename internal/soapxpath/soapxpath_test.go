package soapxpath

import (
	"strings"
	"testing"
)

const quote = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<soapenv:Body><m0:getQuote xmlns:m0="http://services.samples"><m0:request>` +
	`<m0:symbol>IBM</m0:symbol><m0:qty>3</m0:qty></m0:request></m0:getQuote></soapenv:Body></soapenv:Envelope>`

func ptr(s string) *string { return &s }

func TestMatch(t *testing.T) {
	m0 := map[string]string{"m0": "http://services.samples"}
	cases := []struct {
		name, expr string
		ns         map[string]string
		value      *string
		doc        string
		want       bool
	}{
		{"node_selected", "//m0:symbol", m0, nil, quote, true},
		{"node_not_selected", "//m0:price", m0, nil, quote, false},
		{"value_equal", "//m0:getQuote/m0:request/m0:symbol", m0, ptr("IBM"), quote, true},
		{"value_differs", "//m0:symbol", m0, ptr("MSFT"), quote, false},
		{"value_of_nothing", "//m0:price", m0, ptr(""), quote, false},
		{"boolean_true", "//m0:qty > 2", m0, nil, quote, true},
		{"boolean_false", "//m0:qty > 3", m0, nil, quote, false},
		{"number_value", "count(//m0:request/*)", m0, ptr("2"), quote, true},
		{"number_zero_is_false", "count(//m0:price)", m0, nil, quote, false},
		{"string_value", "local-name(/*)", nil, ptr("Envelope"), quote, true},
		{"boolean_value", "boolean(//m0:symbol)", m0, ptr("true"), quote, true},
		{"predefined_soapenv", "/soapenv:Envelope/soapenv:Body", nil, nil, quote, true},
		{"predefined_soap12_not_11", "/soap12:Envelope", nil, nil, quote, false},
		{"rebound_prefix", "/soapenv:Envelope", map[string]string{"soapenv": "urn:other"}, nil, quote, false},
		{"wrong_namespace", "//m0:symbol", map[string]string{"m0": "urn:other"}, nil, quote, false},
		{"malformed", "//m0:symbol", m0, nil, strings.TrimSuffix(quote, "</soapenv:Envelope>") + "<x>", false},
		{"not_xml", "//m0:symbol", m0, nil, "symbol=IBM", false},
		{"empty", "true()", nil, nil, "", false},
		{"doctype", "//m0:symbol", m0, nil, `<!DOCTYPE e [<!ENTITY x "IBM">]>` + quote, false},
		{"undefined_entity", "//x", nil, nil, `<x>&lol;</x>`, false},
		{"too_deep", "//x", nil, nil, strings.Repeat("<a>", MaxDepth) + "<x/>" + strings.Repeat("</a>", MaxDepth), false},
		{"deep_enough", "//x", nil, nil, strings.Repeat("<a>", MaxDepth-1) + "<x>text</x>" + strings.Repeat("</a>", MaxDepth-1), true},
		{"iso_8859_1", "//s", nil, ptr("caf\u00e9"), "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><s>caf\xe9</s>", true},
		{"invalid_utf8", "//s", nil, nil, "<s>bad\xff</s>", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Compile(tc.expr, tc.ns, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Match([]byte(tc.doc)); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr string
		ns   map[string]string
		want string
	}{
		{"//m0:symbol[", nil, `"//m0:symbol["`},
		{"//x", map[string]string{"1bad": "urn:x"}, `"1bad"`},
		{"//x", map[string]string{"p": ""}, `"p"`},
	}
	for _, tc := range cases {
		_, err := Compile(tc.expr, tc.ns, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q, %v) = %v, want an error naming %s", tc.expr, tc.ns, err, tc.want)
		}
	}
}

// check's look at the markup counts nesting as the parser does, whatever
// hides a '<' or '>' from it.
func TestCheckDepth(t *testing.T) {
	deep := func(n int, inner string) string {
		return strings.Repeat("<a x='>' y=\"/>\">", n) + inner + strings.Repeat("</a>", n)
	}
	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"at_bound", deep(MaxDepth, "text"), true},
		{"self_closing_at_bound", deep(MaxDepth-1, "<b/>"), true},
		{"over_bound", deep(MaxDepth, "<b/>"), false},
		{"siblings_do_not_nest", "<r>" + strings.Repeat("<a></a><b/>", 10*MaxDepth) + "</r>", true},
		{"markup_in_comment_cdata_pi", deep(MaxDepth-1, "<!-- <a><a> --><![CDATA[<a><a>]]><?p <a><a>?>"), true},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE r><r/>`, false},
		{"doctype_in_cdata_is_text", `<r><![CDATA[<!DOCTYPE r>]]></r>`, true},
	}
	for _, tc := range cases {
		if err := check([]byte(tc.doc)); (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
