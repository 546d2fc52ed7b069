// Package soapxpath evaluates an XPath 1.0 expression over a SOAP envelope (or
// any XML document) held in memory: the logic of the soap_xpath request
// matcher, with no Caddy in it.
//
// It uses github.com/antchfx/xpath (the XPath 1.0 engine) over
// github.com/antchfx/xmlquery (its DOM for encoding/xml): the most used and
// kept pure-Go XPath pair, with namespace bindings at compile time
// (CompileWithNS), no cgo (libxml2 bindings would need it), and a compiled
// expression that is safe to evaluate from many goroutines. encoding/xml
// under it expands no entity and fetches nothing; Match adds what it lacks:
// a document type declaration is refused and nesting is bounded by a look at
// the markup before the tree is built, so that a deep document costs no node
// per level.
package soapxpath

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
	"golang.org/x/net/html/charset"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// MaxDepth bounds the nesting of the elements of a document that Match
// evaluates; a deeper one does not match. Real envelopes nest a few dozen
// levels at most.
const MaxDepth = 256

// Predefined are the namespace prefixes bound in every expression unless the
// expression's own bindings rebind them: soap11 and soapenv (as Synapse's
// samples write it) for the SOAP 1.1 envelope, soap12 for SOAP 1.2.
var Predefined = map[string]string{
	"soap11":  soap.Namespace11,
	"soapenv": soap.Namespace11,
	"soap12":  soap.Namespace12,
}

// Query is a compiled expression and, optionally, the string value it must
// have. It is safe for concurrent use.
type Query struct {
	expr     *xpath.Expr
	value    string
	hasValue bool
}

// Compile compiles expression with the namespace bindings (prefix to URI,
// over Predefined). With no value, Match reports whether the expression is
// true as XPath's boolean() says (a node-set that is not empty, a number
// neither 0 nor NaN, a string not empty, or true); with a value, whether its
// string value as XPath's string() says (for a node-set, the string value of
// its first node in document order, as Synapse's filter source reads it)
// equals value exactly.
func Compile(expression string, namespaces map[string]string, value *string) (*Query, error) {
	ns := make(map[string]string, len(Predefined)+len(namespaces))
	for p, uri := range Predefined {
		ns[p] = uri
	}
	for p, uri := range namespaces {
		if !soap.IsNCName(p) {
			return nil, fmt.Errorf("namespace prefix %q is not an XML name", p)
		}
		if uri == "" {
			return nil, fmt.Errorf("namespace prefix %q bound to an empty URI", p)
		}
		ns[p] = uri
	}
	expr, err := xpath.CompileWithNS(expression, ns)
	if err != nil {
		return nil, fmt.Errorf("XPath expression %q: %v", expression, err)
	}
	q := &Query{expr: expr}
	if value != nil {
		q.value, q.hasValue = *value, true
	}
	return q, nil
}

// errDoctype: SOAP forbids a document type declaration (SOAP 1.1 §3, SOAP 1.2
// part 1 §5), and it is where entity attacks live.
var errDoctype = errors.New("document type declaration")

// errDepth: the elements nest deeper than MaxDepth.
var errDepth = errors.New("nesting too deep")

// Match evaluates the query over doc, a whole XML document. A document that
// is malformed, declares a document type or nests deeper than MaxDepth does
// not match. It never modifies doc. A panic of the XPath engine on some
// input counts as no match too: a request is never failed by its body.
func (q *Query) Match(doc []byte) (matched bool) {
	defer func() {
		if recover() != nil {
			matched = false
		}
	}()
	if check(doc) != nil {
		return false
	}
	root, err := xmlquery.ParseWithOptions(bytes.NewReader(doc), xmlquery.ParserOptions{
		Decoder: &xmlquery.DecoderOptions{Strict: true, CharsetReader: charset.NewReaderLabel},
	})
	if err != nil {
		return false
	}
	result := q.expr.Evaluate(xmlquery.CreateXPathNavigator(root))
	if !q.hasValue {
		return truth(result)
	}
	s, ok := stringValue(result)
	return ok && s == q.value
}

// check reads doc, before any tree is built, for what encoding/xml lets
// through: a document type declaration (encoding/xml expands none of its
// entities, but SOAP forbids it) and elements nested deeper than MaxDepth,
// which would cost a node each and an evaluation that may recurse over them.
// It looks only at markup: in well-formed XML a '<' starts a tag, a comment,
// a CDATA section, a processing instruction or a declaration, and no
// attribute value holds one; what is not well-formed the parse refuses after.
func check(doc []byte) error {
	depth := 0
	for i := 0; ; {
		j := bytes.IndexByte(doc[i:], '<')
		if j < 0 || i+j+1 >= len(doc) {
			return nil
		}
		i += j + 1
		rest := doc[i:]
		var skip []byte // what ends the construct at i
		switch {
		case rest[0] == '/':
			depth--
			skip = []byte(">")
		case rest[0] == '?':
			skip = []byte("?>")
		case bytes.HasPrefix(rest, []byte("!--")):
			skip = []byte("-->")
		case bytes.HasPrefix(rest, []byte("![CDATA[")):
			skip = []byte("]]>")
		case rest[0] == '!':
			if bytes.HasPrefix(rest, []byte("!DOCTYPE")) {
				return errDoctype
			}
			skip = []byte(">")
		default:
			end := tagEnd(rest)
			if end < 0 {
				return nil // unterminated: the parse fails on it
			}
			if depth+1 > MaxDepth {
				return errDepth
			}
			if rest[end-1] != '/' {
				depth++
			}
			i += end + 1
			continue
		}
		k := bytes.Index(rest, skip)
		if k < 0 {
			return nil
		}
		i += k + len(skip)
	}
}

// tagEnd returns the index in tag (what follows a start tag's '<') of the
// '>' that ends it, past quoted attribute values, or -1.
func tagEnd(tag []byte) int {
	var quote byte
	for i, c := range tag {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

func truth(result any) bool {
	switch v := result.(type) {
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	case *xpath.NodeIterator:
		return v.MoveNext()
	}
	return false
}

func stringValue(result any) (string, bool) {
	switch v := result.(type) {
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return numberString(v), true
	case string:
		return v, true
	case *xpath.NodeIterator:
		if !v.MoveNext() {
			return "", false // string() of an empty node-set is "", but nothing was selected
		}
		return v.Current().Value(), true
	}
	return "", false
}

// numberString is XPath 1.0's string() of a number.
func numberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
