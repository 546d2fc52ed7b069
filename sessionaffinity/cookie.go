package sessionaffinity

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// DefaultCookies are the cookies an http session is read from unless told
// otherwise: the ones WSO2's HttpSessionDispatcher knows (Apache Synapse's
// knows JSESSIONID only).
var DefaultCookies = []string{"JSESSIONID", "PHPSESSID", "phpMyAdmin", "wordpress_test_cookie"}

// SetCookies makes the source read the session id from the named cookies too
// (after the HTTP headers, tried in order), and learn it from the Set-Cookie
// of responses. Cookie names are case-sensitive.
func (s *IDSource) SetCookies(names []string) error {
	s.cookies = s.cookies[:0]
	for _, n := range names {
		if !httpguts.ValidHeaderFieldName(n) { // a cookie name is an HTTP token too
			return fmt.Errorf("invalid cookie name %q", n)
		}
		s.cookies = append(s.cookies, n)
	}
	return nil
}

// fromCookies returns the first usable value of a configured cookie in the
// request's Cookie lines, the names tried in order; "" if none. Of several
// cookies with one name (set for different Paths) the first counts: browsers
// send the one with the longest Path first (RFC 6265, section 5.4), the most
// specific to the request. It does not allocate.
func (s *IDSource) fromCookies(h http.Header) string {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return ""
	}
	for _, name := range s.cookies {
		if v, ok := requestCookie(lines, name); ok {
			if id := s.usable(v); id != "" {
				return id
			}
		}
	}
	return ""
}

// requestCookie finds the first cookie called name in Cookie header lines.
func requestCookie(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			n, v, ok := strings.Cut(pair, "=")
			if ok && textproto.TrimString(n) == name {
				return unquoteCookie(textproto.TrimString(v)), true
			}
		}
	}
	return "", false
}

// unquoteCookie strips the double quotes a cookie value may be wrapped in.
func unquoteCookie(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// fromResponse calls learn for each session id the response header h hands
// out: the value of a configured header, or of a configured cookie that
// Set-Cookie sets. A Set-Cookie that clears such a cookie (Max-Age=0, or an
// Expires before now and no Max-Age) calls learn with cleared set and the
// cookie's value, often empty. Unusable ids (empty, too long) are skipped. It
// allocates only to parse a Set-Cookie of a configured name with a Max-Age or
// an Expires.
func (s *IDSource) fromResponse(h http.Header, now time.Time, learn func(id string, cleared bool)) {
	for _, key := range s.headers {
		if vals := h[key]; len(vals) > 0 {
			if id := s.usable(vals[0]); id != "" {
				learn(id, false)
			}
		}
	}
	if len(s.cookies) == 0 {
		return
	}
	for _, line := range h["Set-Cookie"] {
		n, rest, _ := strings.Cut(line, "=")
		if !s.learnsCookie(textproto.TrimString(n)) {
			continue
		}
		if v, ok := plainSetCookie(rest); ok {
			if id := s.usable(v); id != "" {
				learn(id, false)
			}
			continue
		}
		c, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		if cookieCleared(c, now) {
			learn(c.Value, true)
		} else if id := s.usable(c.Value); id != "" {
			learn(id, false)
		}
	}
}

// plainSetCookie returns the value of a Set-Cookie line, given what follows
// the name's '=', when its attributes cannot clear the cookie (no Max-Age, no
// Expires) and the value is valid: the common case of a server that sets its
// session cookie (again), read without allocating. ok is false when the line
// needs the full parse.
func plainSetCookie(rest string) (value string, ok bool) {
	value, attrs, _ := strings.Cut(rest, ";")
	value = unquoteCookie(textproto.TrimString(value))
	for i := 0; i < len(value); i++ {
		if b := value[i]; b < 0x21 || b >= 0x7f || b == '"' || b == ',' || b == '\\' {
			return "", false
		}
	}
	for attrs != "" {
		var attr string
		attr, attrs, _ = strings.Cut(attrs, ";")
		name, _, _ := strings.Cut(attr, "=")
		name = textproto.TrimString(name)
		if strings.EqualFold(name, "max-age") || strings.EqualFold(name, "expires") {
			return "", false
		}
	}
	return value, true
}

func (s *IDSource) learnsCookie(name string) bool {
	for _, n := range s.cookies {
		if n == name {
			return true
		}
	}
	return false
}

// cookieCleared reports whether a Set-Cookie tells the client to delete the
// cookie. Max-Age wins over Expires (RFC 6265, section 5.3, step 3).
func cookieCleared(c *http.Cookie, now time.Time) bool {
	switch {
	case c.MaxAge < 0: // Max-Age=0 or negative
		return true
	case c.MaxAge > 0:
		return false
	default:
		return !c.Expires.IsZero() && !c.Expires.After(now)
	}
}
