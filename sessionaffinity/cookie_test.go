package sessionaffinity

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func cookieSource(t *testing.T, headers, cookies []string) *IDSource {
	t.Helper()
	src, err := NewIDSource(headers, "", DefaultPeekLimit, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.SetCookies(cookies); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSetCookiesNamesTheBadName(t *testing.T) {
	src := cookieSource(t, nil, nil)
	for _, bad := range []string{"", "bad name", "semi;colon", "eq=ual", "new\nline"} {
		err := src.SetCookies([]string{"JSESSIONID", bad})
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(quote(bad))) {
			t.Errorf("SetCookies(%q) = %v, want an error naming it", bad, err)
		}
	}
}

func quote(s string) string { return `"` + strings.NewReplacer("\n", `\n`).Replace(s) + `"` }

func TestSessionIDFromRequestCookies(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		cookies []string
		h       http.Header
		want    string
	}{
		{"one cookie", nil, DefaultCookies, http.Header{"Cookie": {"JSESSIONID=abc"}}, "abc"},
		{"among others", nil, DefaultCookies, http.Header{"Cookie": {"theme=dark; JSESSIONID=abc; lang=en"}}, "abc"},
		{"no spaces", nil, DefaultCookies, http.Header{"Cookie": {"a=1;JSESSIONID=abc;b=2"}}, "abc"},
		{"quoted value", nil, DefaultCookies, http.Header{"Cookie": {`JSESSIONID="abc"`}}, "abc"},
		{"names are case-sensitive", nil, DefaultCookies, http.Header{"Cookie": {"jsessionid=abc"}}, ""},
		{"a name that only ends the same", nil, DefaultCookies, http.Header{"Cookie": {"XJSESSIONID=abc"}}, ""},
		{"configured order, not the request's", nil, DefaultCookies, http.Header{"Cookie": {"PHPSESSID=php; JSESSIONID=java"}}, "java"},
		{"first of a name: the longest Path comes first", nil, DefaultCookies, http.Header{"Cookie": {"JSESSIONID=app; JSESSIONID=root"}}, "app"},
		{"several Cookie lines", nil, DefaultCookies, http.Header{"Cookie": {"a=1", "JSESSIONID=abc"}}, "abc"},
		{"empty value: the next name", nil, DefaultCookies, http.Header{"Cookie": {"JSESSIONID=; PHPSESSID=php"}}, "php"},
		{"too long", nil, DefaultCookies, http.Header{"Cookie": {"JSESSIONID=" + strings.Repeat("x", 17)}}, ""},
		{"a header first", []string{"X-Session"}, DefaultCookies, http.Header{"Cookie": {"JSESSIONID=abc"}, "X-Session": {"hdr"}}, "hdr"},
		{"no cookies configured", nil, nil, http.Header{"Cookie": {"JSESSIONID=abc"}}, ""},
		{"configured name", nil, []string{"sid"}, http.Header{"Cookie": {"JSESSIONID=abc; sid=mine"}}, "mine"},
		{"no Cookie", nil, DefaultCookies, http.Header{}, ""},
		{"malformed pairs", nil, DefaultCookies, http.Header{"Cookie": {";;=;JSESSIONID;JSESSIONID=ok"}}, "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := cookieSource(t, tc.headers, tc.cookies)
			if got := src.FromHeaders(tc.h); got != tc.want {
				t.Errorf("FromHeaders(%v) = %q, want %q", tc.h, got, tc.want)
			}
		})
	}
}

func TestSessionIDFromCookiesDoesNotAllocate(t *testing.T) {
	src := cookieSource(t, []string{DefaultHeader}, DefaultCookies)
	h := http.Header{"Cookie": {"theme=dark; lang=en", "wordpress_test_cookie=WP+Cookie+check"}}
	if allocs := testing.AllocsPerRun(1000, func() { _ = src.FromHeaders(h) }); allocs != 0 {
		t.Errorf("FromHeaders allocates %v times per call, want 0", allocs)
	}
}

type learnedID struct {
	id      string
	cleared bool
}

func TestSessionIDsFromResponse(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers []string
		h       http.Header
		want    []learnedID
	}{
		{"Set-Cookie", nil, http.Header{"Set-Cookie": {"JSESSIONID=abc; Path=/; HttpOnly"}}, []learnedID{{"abc", false}}},
		{"other cookies ignored", nil, http.Header{"Set-Cookie": {"theme=dark", "PHPSESSID=php; path=/"}}, []learnedID{{"php", false}}},
		{"Max-Age=0 clears", nil, http.Header{"Set-Cookie": {"JSESSIONID=; Max-Age=0; Path=/"}}, []learnedID{{"", true}}},
		{"negative Max-Age clears", nil, http.Header{"Set-Cookie": {"JSESSIONID=gone; Max-Age=-1"}}, []learnedID{{"gone", true}}},
		{"Expires in the past clears", nil, http.Header{"Set-Cookie": {"JSESSIONID=deleted; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}}, []learnedID{{"deleted", true}}},
		{"Expires in the future sets", nil, http.Header{"Set-Cookie": {"JSESSIONID=abc; Expires=Fri, 01 Jan 2027 00:00:00 GMT"}}, []learnedID{{"abc", false}}},
		{"Max-Age wins over a past Expires", nil, http.Header{"Set-Cookie": {"JSESSIONID=abc; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}}, []learnedID{{"abc", false}}},
		{"empty value set: nothing", nil, http.Header{"Set-Cookie": {"JSESSIONID="}}, nil},
		{"too long: nothing", nil, http.Header{"Set-Cookie": {"JSESSIONID=" + strings.Repeat("x", 17)}}, nil},
		{"malformed Set-Cookie: nothing", nil, http.Header{"Set-Cookie": {"JSESSIONID"}}, nil},
		{"response header", []string{"X-Session-Id"}, http.Header{"X-Session-Id": {" s1 "}}, []learnedID{{"s1", false}}},
		{"header, then cookie", []string{"X-Session-Id"}, http.Header{"X-Session-Id": {"s1"}, "Set-Cookie": {"JSESSIONID=c1"}}, []learnedID{{"s1", false}, {"c1", false}}},
		{"nothing", nil, http.Header{"Content-Type": {"text/xml"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := cookieSource(t, tc.headers, DefaultCookies)
			var got []learnedID
			src.fromResponse(tc.h, now, func(id string, cleared bool) { got = append(got, learnedID{id, cleared}) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("fromResponse(%v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}

func TestSessionIDsFromResponseWithoutOnesDoesNotAllocate(t *testing.T) {
	src := cookieSource(t, []string{"X-Session-Id"}, DefaultCookies)
	h := http.Header{"Content-Type": {"text/xml"}, "Set-Cookie": {"theme=dark; Path=/"}}
	now := time.Now()
	learn := func(string, bool) { t.Fatal("learned from nothing") }
	if allocs := testing.AllocsPerRun(1000, func() { src.fromResponse(h, now, learn) }); allocs != 0 {
		t.Errorf("fromResponse allocates %v times per call, want 0", allocs)
	}
}

// The quick read of a plain Set-Cookie agrees with net/http's full parse, and
// declines every line whose attributes could clear the cookie.
func TestPlainSetCookieAgreesWithFullParse(t *testing.T) {
	for _, line := range []string{
		"JSESSIONID=abc",
		"JSESSIONID=abc; Path=/; HttpOnly; Secure; SameSite=Lax",
		`JSESSIONID="quoted"; Path=/`,
		"JSESSIONID = spaced ; Path=/app",
		"JSESSIONID=a b",
		"JSESSIONID=node1.abc-123_x:y/z",
		"JSESSIONID=; Path=/",
		"JSESSIONID=a b; Path=/",
		"JSESSIONID=a,b",
		"JSESSIONID=abc; Max-Age=60",
		"JSESSIONID=abc; max-age=0",
		"JSESSIONID=abc; EXPIRES=Thu, 01 Jan 1970 00:00:00 GMT",
		"JSESSIONID=caf\xc3\xa9",
	} {
		_, rest, _ := strings.Cut(line, "=")
		v, ok := plainSetCookie(rest)
		if !ok {
			if !strings.Contains(strings.ToLower(line), "max-age") && !strings.Contains(strings.ToLower(line), "expires") &&
				!strings.ContainsFunc(rest, func(r rune) bool { return r == ' ' || r == ',' || r >= 0x80 }) {
				t.Errorf("%q: declined, but it is plain", line)
			}
			continue
		}
		c, err := http.ParseSetCookie(line)
		if err != nil || strings.TrimSpace(c.Value) != v { // ids are trimmed either way
			t.Errorf("%q: quick read %q, net/http %v, %v", line, v, c, err)
		}
	}
}

func TestLearningAPlainSetCookieDoesNotAllocate(t *testing.T) {
	src := cookieSource(t, nil, DefaultCookies)
	h := http.Header{"Set-Cookie": {"JSESSIONID=node1.abc; Path=/; HttpOnly"}}
	now := time.Now()
	var got string
	learn := func(id string, _ bool) { got = id }
	if allocs := testing.AllocsPerRun(1000, func() { src.fromResponse(h, now, learn) }); allocs != 0 {
		t.Errorf("fromResponse allocates %v times per call, want 0", allocs)
	}
	if got != "node1.abc" {
		t.Errorf("learned %q", got)
	}
}
