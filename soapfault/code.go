package soapfault

import (
	"fmt"
	"strings"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// The fault code local names that each SOAP version defines.
var (
	codesSOAP11 = []string{"VersionMismatch", "MustUnderstand", "Client", "Server"}
	codesSOAP12 = []string{"VersionMismatch", "MustUnderstand", "DataEncodingUnknown", "Sender", "Receiver"}
)

// Conventional prefixes of the fault code, as in Synapse's samples.
const (
	PrefixSOAP11 = "soap11Env"
	PrefixSOAP12 = "soap12Env"
)

// Code is a fault code QName, "prefix:Local". Its prefix is always bound to the
// envelope namespace of the fault's version, as Synapse's makefault does.
type Code struct {
	Prefix string // "" means the version's conventional prefix
	Local  string
}

// DefaultCode is Synapse's sample code, soap11Env:VersionMismatch (in a SOAP
// 1.2 fault, soap12Env:VersionMismatch).
var DefaultCode = Code{Local: "VersionMismatch"}

// ParseCode parses "prefix:Local" or "Local". The local name must be a fault
// code of SOAP 1.1 or SOAP 1.2; whether it fits the configured version is
// checked by Fault.Validate.
func ParseCode(s string) (Code, error) {
	var c Code
	prefix, local, found := strings.Cut(s, ":")
	if found {
		c.Prefix, c.Local = prefix, local
	} else {
		c.Local = s
	}
	if found && !soap.IsNCName(c.Prefix) {
		return Code{}, fmt.Errorf("fault code %q: invalid namespace prefix %q", s, c.Prefix)
	}
	if strings.EqualFold(c.Prefix, "xml") || strings.EqualFold(c.Prefix, "xmlns") {
		return Code{}, fmt.Errorf("fault code %q: reserved namespace prefix %q", s, c.Prefix)
	}
	if !contains(codesSOAP11, c.Local) && !contains(codesSOAP12, c.Local) {
		return Code{}, fmt.Errorf("fault code %q: unknown local name %q (SOAP 1.1: %s; SOAP 1.2: %s)",
			s, c.Local, strings.Join(codesSOAP11, ", "), strings.Join(codesSOAP12, ", "))
	}
	return c, nil
}

// String returns the code as written in the configuration.
func (c Code) String() string {
	if c.Prefix == "" {
		return c.Local
	}
	return c.Prefix + ":" + c.Local
}

// validFor reports an error if c's local name is not a fault code of v.
func (c Code) validFor(v Version) error {
	var codes []string
	switch v {
	case VersionSOAP11:
		codes = codesSOAP11
	case VersionSOAP12:
		codes = codesSOAP12
	default:
		return nil
	}
	if !contains(codes, c.Local) {
		return fmt.Errorf("fault code %q is not a %s fault code (want one of %s)",
			c.String(), v, strings.Join(codes, ", "))
	}
	return nil
}

// For returns the code to render in a fault of version v when the version is
// chosen per request (auto): the local names that exist in only one version
// are mapped (Client <-> Sender, Server <-> Receiver, DataEncodingUnknown ->
// Client), and the conventional prefixes soap11Env/soap12Env follow the
// version, so that a SOAP 1.2 fault never says soap11Env. Other prefixes are
// kept, since they are bound to the fault's own envelope namespace anyway.
func (c Code) For(v Version) Code {
	switch v {
	case VersionSOAP11:
		switch c.Local {
		case "Sender", "DataEncodingUnknown":
			c.Local = "Client"
		case "Receiver":
			c.Local = "Server"
		}
		if c.Prefix == "" || c.Prefix == PrefixSOAP12 {
			c.Prefix = PrefixSOAP11
		}
	case VersionSOAP12:
		switch c.Local {
		case "Client":
			c.Local = "Sender"
		case "Server":
			c.Local = "Receiver"
		}
		if c.Prefix == "" || c.Prefix == PrefixSOAP11 {
			c.Prefix = PrefixSOAP12
		}
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
