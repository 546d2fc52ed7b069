package sessionaffinity

import (
	"fmt"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

// SessionType says where clients carry their session, after Synapse's
// <session type="simpleClientSession|http|soap">.
type SessionType string

const (
	// SessionSimpleClient: the client names its own session, in an HTTP
	// header or the SOAP header block ClientID; the first request binds it.
	SessionSimpleClient SessionType = "simple_client"
	// SessionHTTP: the upstream hands the session out in a cookie (or a
	// response header) and the client sends it back (HttpSessionDispatcher).
	SessionHTTP SessionType = "http"
	// SessionSOAP: the upstream hands out an Axis2 ServiceGroupId in the
	// wsa:ReplyTo reference parameters of its SOAP response, and the client
	// sends it back in its SOAP Header (SoapSessionDispatcher).
	SessionSOAP SessionType = "soap"
)

// DefaultServiceGroupID is the SOAP header block of a soap session: Axis2's
// ServiceGroupId, in Clark notation.
const DefaultServiceGroupID = "{" + soap.NamespaceAxis2 + "}ServiceGroupId"

// ParseSessionType checks a session type's name; "" is simple_client.
func ParseSessionType(s string) (SessionType, error) {
	switch t := SessionType(s); t {
	case "":
		return SessionSimpleClient, nil
	case SessionSimpleClient, SessionHTTP, SessionSOAP:
		return t, nil
	default:
		return "", fmt.Errorf("unknown session type %q (want %s, %s or %s)", s, SessionSimpleClient, SessionHTTP, SessionSOAP)
	}
}

// Learned reports whether sessions of the type are learned from responses.
func (t SessionType) Learned() bool { return t == SessionHTTP || t == SessionSOAP }
