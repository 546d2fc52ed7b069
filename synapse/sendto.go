package synapse

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// A <send/> without an endpoint: Synapse's SendMediator sends the message to
// its To address, which for an HTTP request is the target the client asked
// for (an HTTP proxy request names the real service). Caddy would be an open
// relay doing the same, so the adapter sends only to the hosts the user
// lists, and answers a fault for any other.

// sendToRefusal is the reason of the fault a request gets when its host is
// not listed.
const sendToRefusal = "the request's host is not one the synapse adapter was given to send to (send-to)"

// sendToHint says how to list the hosts.
const sendToHint = "list the hosts it may reach with the adapter's send-to option (caddy synapse --send-to host:port,...; SYNAPSE_SEND_TO for caddy adapt and caddy run), or give an endpoint"

// sendToRequestHost maps m, a send without an endpoint or a default
// endpoint (what says what it is), as a send to the request's host.
func (b *flowBuilder) sendToRequestHost(m *etree.Element, what string) error {
	if len(b.c.opts.SendTo) == 0 {
		return b.c.errorf(m, "%s sends to the message's To address: %s", what, sendToHint)
	}
	if b.f.postfix != nil {
		return b.c.errorf(m, "REST_URL_POSTFIX with a send without an endpoint is not supported")
	}
	b.f.sendTo, b.called = true, true
	b.f.errorHandler = b.onError()
	return nil
}

// defaultEndpoint is the <default> of the endpoint ep is or names; nil for
// another kind. Synapse's DefaultEndpoint.send sends the message to its To
// address, as a send without an endpoint does: it is mapped the same way,
// without the settings a default endpoint may have (timeout, suspension,
// format), which are refused.
func (c *compiler) defaultEndpoint(ep *etree.Element) (*etree.Element, error) {
	resolved, err := c.resolve(ep)
	if err != nil {
		return nil, err
	}
	d := resolved.SelectElement("default")
	if d == nil {
		return nil, nil
	}
	for _, ch := range d.ChildElements() {
		if ch.Tag != "description" {
			return nil, c.errorf(ch, "not supported in a default endpoint (mapped as a send to the message's To address, without settings)")
		}
	}
	for _, a := range d.Attr {
		if a.Space != "xmlns" && a.Key != "xmlns" {
			return nil, c.errorf(d, "%s=%q is not supported on a default endpoint (mapped as a send to the message's To address, without settings)", a.Key, a.Value)
		}
	}
	return d, nil
}

// ParseSendTo reads a list of host:port, separated by commas or spaces, as
// the send-to option gives it.
func ParseSendTo(list string) ([]string, error) {
	var hosts []string
	for _, h := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if err := checkSendTo(h); err != nil {
			return nil, err
		}
		hosts = append(hosts, strings.ToLower(h))
	}
	return hosts, nil
}

func checkSendTo(h string) error {
	host, port, err := net.SplitHostPort(h)
	if err != nil || host == "" || strings.ContainsAny(host, "/{}*") {
		return fmt.Errorf("send-to %q is not host:port", h)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("send-to %q: port %q out of range 1-65535", h, port)
	}
	return nil
}

// sendToHosts are the Host header values a listed host is asked by: with
// its port, and without it for port 80, which clients leave out.
func sendToHosts(h string) []string {
	if host, port, _ := net.SplitHostPort(h); port == "80" {
		return []string{h, host}
	}
	return []string{h}
}
