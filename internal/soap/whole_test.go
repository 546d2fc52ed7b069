package soap

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestPeekWhole(t *testing.T) {
	body := strings.Repeat("x", 1000)
	cases := []struct {
		name   string
		length int64
		limit  int
		want   error
	}{
		{"known_length_within", 1000, 4096, nil},
		{"unknown_length_within", -1, 4096, nil},
		{"known_length_at_limit", 1000, 1000, nil},
		{"unknown_length_at_limit", -1, 1000, ErrOverLimit},
		{"known_length_over", 1000, 999, ErrOverLimit},
		{"unknown_length_over", -1, 999, ErrOverLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := io.NopCloser(iotest.HalfReader(strings.NewReader(body)))
			whole, replay, err := PeekWhole(src, tc.length, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && string(whole) != body {
				t.Errorf("whole has %d bytes, want the %d of the body", len(whole), len(body))
			}
			if err != nil && whole != nil {
				t.Errorf("whole %d bytes with err %v", len(whole), err)
			}
			got, rerr := io.ReadAll(replay)
			if rerr != nil || !bytes.Equal(got, []byte(body)) {
				t.Errorf("replay gave %d bytes (%v), want the body", len(got), rerr)
			}
		})
	}
}

func TestPeekWholeReadError(t *testing.T) {
	boom := errors.New("boom")
	src := io.NopCloser(io.MultiReader(strings.NewReader("<a>"), iotest.ErrReader(boom)))
	_, _, err := PeekWhole(src, -1, 100)
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, boom) {
		t.Fatalf("err %v, want a *ReadError of boom", err)
	}
}
