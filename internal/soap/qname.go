package soap

import (
	"encoding/xml"
	"fmt"
	"strings"
	"unicode"
)

// ParseQName parses Clark notation, "{namespace}Local", as used in Synapse's
// configuration. The namespace may be empty ("{}Local" or "Local"). Errors
// name s as a header block name, which is what the plugin configures with it.
func ParseQName(s string) (xml.Name, error) {
	var name xml.Name
	local := s
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return name, fmt.Errorf("invalid SOAP header name %q: missing '}'", s)
		}
		name.Space, local = s[1:end], s[end+1:]
	}
	if !IsNCName(local) {
		return name, fmt.Errorf("invalid SOAP header name %q: want {namespace}LocalName", s)
	}
	name.Local = local
	return name, nil
}

// IsNCName reports whether s is an XML name without a colon (a local name or
// a namespace prefix): a letter or '_', then letters, digits, '-', '.', '_'
// and combining marks (Unicode Mn and Mc, XML's CombiningChar).
func IsNCName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		default:
			return false
		}
	}
	return s != ""
}
