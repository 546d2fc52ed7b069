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

func (b *flowBuilder) sendToRequestHost(m *etree.Element) error {
	if len(b.c.opts.SendTo) == 0 {
		return b.c.errorf(m, "without an endpoint Synapse sends to the message's To address: %s", sendToHint)
	}
	if b.f.postfix != nil {
		return b.c.errorf(m, "REST_URL_POSTFIX with a send without an endpoint is not supported")
	}
	b.f.sendTo, b.called = true, true
	b.f.errorHandler = b.onError()
	return nil
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
