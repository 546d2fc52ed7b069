package synapse

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// The axis2-scope properties that change how Synapse answers or sends a
// message in ways Caddy can express, or that change nothing Caddy does.
// Synapse reads them in PassThroughHttpSender (HTTP_SC, NO_ENTITY_BODY,
// DISABLE_CHUNKING, FORCE_HTTP_1.0), Axis2FlexibleMEPClient
// (REST_URL_POSTFIX appended to the endpoint's address) and the message
// formatters (messageType).

const supportedAxis2 = "HTTP_SC, REST_URL_POSTFIX, NO_ENTITY_BODY, DISABLE_CHUNKING, FORCE_HTTP_1.0, messageType"

func (b *flowBuilder) axis2Property(m *etree.Element, ph phase, name, value string, remove bool) error {
	beforeCall := ph == phaseIn && !b.called
	on := !remove && strings.EqualFold(value, "true")
	switch name {
	case "HTTP_SC":
		if remove {
			return nil
		}
		status, err := strconv.Atoi(value)
		if err != nil || status < 100 || status > 599 {
			return b.c.errorf(m, "HTTP_SC %q is not an HTTP status (100-599)", value)
		}
		switch {
		case ph == phaseFault:
			b.f.faultStatus = status
		case beforeCall:
			b.f.answerStatus = status
		default:
			b.f.responseStatus = status
		}
	case "REST_URL_POSTFIX":
		if !beforeCall {
			b.c.warnf(m, "REST_URL_POSTFIX after the call changes nothing: not mapped")
			return nil
		}
		if strings.ContainsAny(value, "{}#") {
			return b.c.errorf(m, "REST_URL_POSTFIX %q: braces and fragments are not supported", value)
		}
		if remove {
			value = ""
		}
		b.f.postfix = &value
	case "NO_ENTITY_BODY":
		switch {
		case !on:
		case beforeCall:
			// The flow's own answer (respond) has no body; a request
			// that is called on goes as it came: Caddy has no handler that
			// removes a request's body (one without, as a GET, is the same).
			b.f.noBody = true
		default:
			return b.c.errorf(m, "NO_ENTITY_BODY on a response is not supported: Caddy sends the upstream's body")
		}
	case "DISABLE_CHUNKING", "FORCE_HTTP_1.0":
		if !on {
			return nil
		}
		// Synapse buffers the request to send it with a Content-Length.
		// Caddy forwards a request framed as it came: with its
		// Content-Length, or chunked if the client chunked it (its
		// request_buffers keeps the chunked framing of such a request).
		b.c.warnf(m, "%s: the request goes as it came, with its Content-Length, or chunked if the client chunked it (Caddy speaks HTTP/1.1 to the upstream)", name)
	case "messageType":
		if remove {
			return nil
		}
		if !beforeCall {
			return b.c.errorf(m, "messageType %q on a response is not supported: Caddy does not convert messages", value)
		}
		// Synapse converts the message to this type; Caddy sends it as it
		// came, which is the same when it already is: only such requests
		// take this way, the others get a fault.
		b.f.messageType = value
		set, err := and(b.when, []matchSet{{headers: map[string]string{"Content-Type": `(?i)^` + regexp.QuoteMeta(value) + `\s*(?:;.*)?$`}}})
		if err != nil {
			return b.c.errorf(m, "%v", err)
		}
		b.when = set
	default:
		return b.c.errorf(m, "property %q in scope \"axis2\" is not supported (supported: %s)", name, supportedAxis2)
	}
	return nil
}
