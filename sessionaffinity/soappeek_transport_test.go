package sessionaffinity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// writeCounter is a connection that counts the writes net/http makes to it.
// (Not an io.ByteWriter, so that net/http buffers its writes as it does on a
// network connection.)
type writeCounter struct {
	sent   bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.sent.Write(p)
}

// body reads the request back as an upstream server would and returns its body.
func (w *writeCounter) body(t *testing.T) string {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(&w.sent))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// sendOn writes a POST of body, as the replay of a peek, the way Go's HTTP
// transport writes it to an upstream connection.
func sendOn(t *testing.T, replay io.ReadCloser, length int64) (*writeCounter, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://upstream/services/StockQuote", replay)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	conn := &writeCounter{}
	return conn, req.Write(conn)
}

// A body the peek read whole, of a known length, goes upstream with its
// request's headers in one write: net/http flushes the headers on their own
// first for any body it does not know is in memory (the server's own request
// body included), which costs a second write and a second TCP segment per
// request. A longer body, or one of unknown length, streams on as before.
func TestPeekBodyReadWholeIsSentInOneWrite(t *testing.T) {
	small := env11(clientID("123")) + strings.Repeat(" ", 512)
	large := env11(clientID("123")) + strings.Repeat(" ", 64<<10)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write([]byte(small)); err != nil || zw.Close() != nil {
		t.Fatal("gzip", err)
	}
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	for _, tc := range []struct {
		name     string
		body     string
		encoding string
		length   int64
		oneWrite bool // else the headers go first, on their own
	}{
		{"whole_known_length", small, "", int64(len(small)), true},
		{"whole_gzip_known_length", zipped.String(), "gzip", int64(zipped.Len()), true},
		{"whole_unknown_length", small, "", -1, false},
		{"longer_than_the_peek", large, "", int64(len(large)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := newCountingBody(strings.NewReader(tc.body))
			id, outcome, replay := src.PeekID(body, tc.length, "text/xml", tc.encoding)
			if id != "123" || outcome != PeekFound {
				t.Fatalf("PeekID = (%q, %v), want (123, found)", id, outcome)
			}
			conn, err := sendOn(t, replay, tc.length)
			if err != nil {
				t.Fatal(err)
			}
			if (conn.writes == 1) != tc.oneWrite {
				t.Errorf("request written in %d writes, want one: %v", conn.writes, tc.oneWrite)
			}
			if got := conn.body(t); got != tc.body {
				t.Errorf("the upstream would receive %d bytes, not the %d that came", len(got), len(tc.body))
			}
		})
	}
}

// A retry that finds the body held in memory partly sent by a failed attempt
// fails on the length rather than sending the rest as if it were the whole.
func TestPeekBodyReadWholePartlySentFailsOnRetry(t *testing.T) {
	in := env11(clientID("123"))
	src := mustIDSource(t, DefaultPeekLimit, DefaultMaxIDLength)
	_, _, replay := src.PeekID(newCountingBody(strings.NewReader(in)), int64(len(in)), "text/xml", "")
	if _, err := io.ReadFull(replay, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := sendOn(t, replay, int64(len(in))); err == nil || !strings.Contains(err.Error(), "ContentLength") {
		t.Errorf("sending a partly read body: error %v, want the transport's ContentLength mismatch", err)
	}
}
