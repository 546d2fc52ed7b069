package sessionaffinity

import (
	"net/http"
	"strings"
	"testing"
)

func TestNewIDSource(t *testing.T) {
	tests := []struct {
		name        string
		headers     []string
		soapHeader  string
		peekLimit   int
		maxIDLength int
		wantErr     string // substring; "" = no error
	}{
		{name: "defaults", headers: []string{DefaultHeader}, soapHeader: DefaultSOAPHeader, peekLimit: DefaultPeekLimit, maxIDLength: DefaultMaxIDLength},
		{name: "no_headers_no_soap", peekLimit: 1, maxIDLength: 1},
		{name: "several_headers", headers: []string{"x-session", "X-Client-Id", "simpleClientSession"}, peekLimit: 1, maxIDLength: 1},
		{name: "underscore_header", headers: []string{"simple_client_session"}, peekLimit: 1, maxIDLength: 1},
		{name: "empty_header_name", headers: []string{"ok", ""}, peekLimit: 1, maxIDLength: 1, wantErr: `invalid HTTP header name ""`},
		{name: "header_with_space", headers: []string{"bad name"}, peekLimit: 1, maxIDLength: 1, wantErr: `"bad name"`},
		{name: "header_with_colon", headers: []string{"x-id:"}, peekLimit: 1, maxIDLength: 1, wantErr: `"x-id:"`},
		{name: "header_with_tab", headers: []string{"x\tid"}, peekLimit: 1, maxIDLength: 1, wantErr: `"x\tid"`},
		{name: "header_with_newline", headers: []string{"x-id\r\nInjected"}, peekLimit: 1, maxIDLength: 1, wantErr: `"x-id\r\nInjected"`},
		{name: "zero_peek_limit", headers: []string{DefaultHeader}, peekLimit: 0, maxIDLength: 1, wantErr: "got 0"},
		{name: "negative_peek_limit", headers: []string{DefaultHeader}, peekLimit: -5, maxIDLength: 1, wantErr: "got -5"},
		{name: "zero_max_id", headers: []string{DefaultHeader}, peekLimit: 1, maxIDLength: 0, wantErr: "got 0"},
		{name: "negative_max_id", headers: []string{DefaultHeader}, peekLimit: 1, maxIDLength: -1, wantErr: "got -1"},
		{name: "bad_qname", headers: []string{DefaultHeader}, soapHeader: "{urn:x", peekLimit: 1, maxIDLength: 1, wantErr: `"{urn:x"`},
		{name: "bad_qname_prefixed", soapHeader: "syn:ClientID", peekLimit: 1, maxIDLength: 1, wantErr: `"syn:ClientID"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewIDSource(tc.headers, tc.soapHeader, tc.peekLimit, tc.maxIDLength)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewIDSource: unexpected error %v", err)
				}
				if got, want := src.ReadsBody(), tc.soapHeader != ""; got != want {
					t.Errorf("ReadsBody() = %v, want %v", got, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewIDSource: no error, want one containing %s", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not name the value (want it to contain %s)", err, tc.wantErr)
			}
			if src != nil {
				t.Errorf("NewIDSource returned a source along with an error")
			}
		})
	}
}

func TestFromHeaders(t *testing.T) {
	mk := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	long := strings.Repeat("L", 32)
	tests := []struct {
		name    string
		headers []string
		maxID   int
		h       http.Header
		want    string
	}{
		{name: "default", headers: []string{DefaultHeader}, h: mk("simpleClientSession", "123"), want: "123"},
		{name: "absent", headers: []string{DefaultHeader}, h: mk("Other", "1"), want: ""},
		{name: "nil_header", headers: []string{DefaultHeader}, h: nil, want: ""},
		{name: "no_configured_headers", headers: nil, h: mk("simpleClientSession", "123"), want: ""},
		{name: "lowercase_config_matches", headers: []string{"simpleclientsession"}, h: mk("SimpleClientSession", "lc"), want: "lc"},
		{name: "uppercase_config_matches", headers: []string{"X-SESSION-ID"}, h: mk("x-session-id", "uc"), want: "uc"},
		{name: "request_header_any_case", headers: []string{DefaultHeader}, h: mk("SIMPLECLIENTSESSION", "rc"), want: "rc"},
		{name: "trimmed", headers: []string{DefaultHeader}, h: mk(DefaultHeader, " \t 42 \t"), want: "42"},
		{name: "inner_space_kept", headers: []string{DefaultHeader}, h: mk(DefaultHeader, " a b "), want: "a b"},
		{name: "first_configured_wins", headers: []string{"X-A", "X-B", "X-C"}, h: mk("X-C", "c", "X-B", "b", "X-A", "a"), want: "a"},
		{name: "precedence_is_config_order", headers: []string{"X-C", "X-A"}, h: mk("X-A", "a", "X-C", "c"), want: "c"},
		{name: "falls_through_missing", headers: []string{"X-A", "X-B", "X-C"}, h: mk("X-C", "c"), want: "c"},
		{name: "empty_skipped", headers: []string{"X-A", "X-B"}, h: mk("X-A", "", "X-B", "b"), want: "b"},
		{name: "whitespace_only_skipped", headers: []string{"X-A", "X-B", "X-C"}, h: mk("X-A", "  \t ", "X-B", "", "X-C", "c"), want: "c"},
		{name: "all_empty", headers: []string{"X-A", "X-B"}, h: mk("X-A", " ", "X-B", ""), want: ""},
		{name: "first_value_only", headers: []string{"X-A"}, h: mk("X-A", "one", "X-A", "two"), want: "one"},
		{name: "at_max_length", headers: []string{"X-A"}, maxID: 32, h: mk("X-A", long), want: long},
		{name: "at_max_length_after_trim", headers: []string{"X-A"}, maxID: 32, h: mk("X-A", "  "+long+"  "), want: long},
		{name: "too_long_ignored", headers: []string{"X-A"}, maxID: 31, h: mk("X-A", long), want: ""},
		{name: "too_long_falls_through", headers: []string{"X-A", "X-B"}, maxID: 31, h: mk("X-A", long, "X-B", "short"), want: "short"},
		{name: "not_utf8_ignored", headers: []string{"X-A"}, h: mk("X-A", "caf\xe9"), want: ""},
		{name: "not_utf8_falls_through", headers: []string{"X-A", "X-B"}, h: mk("X-A", "caf\xe8", "X-B", "café"), want: "café"},
		{name: "non_canonical_request_key_not_found", headers: []string{"X-A"}, h: http.Header{"x-a": {"raw"}}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			maxID := tc.maxID
			if maxID == 0 {
				maxID = DefaultMaxIDLength
			}
			src, err := NewIDSource(tc.headers, "", DefaultPeekLimit, maxID)
			if err != nil {
				t.Fatal(err)
			}
			if got := src.FromHeaders(tc.h); got != tc.want {
				t.Errorf("FromHeaders(%v) = %q, want %q", tc.h, got, tc.want)
			}
		})
	}
}

func TestFromHeadersDoesNotAllocate(t *testing.T) {
	src, err := NewIDSource([]string{"x-first", "X-Second", DefaultHeader}, DefaultSOAPHeader, DefaultPeekLimit, DefaultMaxIDLength)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{
		"hit_last":    {"Simpleclientsession": {"  123  "}, "X-First": {" "}},
		"hit_first":   {"X-First": {"abc"}},
		"miss":        {"Content-Type": {"text/xml"}},
		"too_long":    {"X-First": {strings.Repeat("x", DefaultMaxIDLength+1)}},
		"empty_value": {"X-Second": {""}},
	} {
		if allocs := testing.AllocsPerRun(1000, func() { _ = src.FromHeaders(h) }); allocs != 0 {
			t.Errorf("%s: FromHeaders allocates %v times per call, want 0", name, allocs)
		}
	}
}

func BenchmarkFromHeaders(b *testing.B) {
	src, err := NewIDSource([]string{"X-First", DefaultHeader}, "", DefaultPeekLimit, DefaultMaxIDLength)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{"Simpleclientsession": {"123"}, "Content-Type": {"text/xml"}}
	b.ReportAllocs()
	for b.Loop() {
		if src.FromHeaders(h) != "123" {
			b.Fatal("miss")
		}
	}
}
