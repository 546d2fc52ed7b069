package soap

import "io"

// PeekWhole reads all of body, of length bytes (-1 when not known), if it
// ends within limit bytes, for a reader that needs the whole envelope (an
// XPath over it) rather than its Header. It returns the bytes read and a body
// that yields exactly the bytes of the original, as they came (see replayOf),
// to use in its place, whatever the outcome. err is nil when whole holds the
// entire body, ErrOverLimit when the body goes on past limit (a body of
// unknown length that fills limit exactly counts as over it: nothing beyond
// limit is read to tell), or a *ReadError. whole shares memory with the
// replayed bytes: do not modify it.
func PeekWhole(body io.ReadCloser, length int64, limit int) (whole []byte, replay io.ReadCloser, err error) {
	switch {
	case length > int64(limit):
		// Known to be too long: read nothing.
		return nil, body, ErrOverLimit
	case length == 0:
		return nil, body, nil
	}
	p := peekReader{src: body, limit: limit}
	if length > 0 {
		// One buffer of the announced size, read until it is full.
		p.buf = make([]byte, 0, length)
	}
	for err == nil && !readWhole(p.buf, length) {
		err = p.fill()
	}
	whole = p.buf
	switch {
	case err == io.EOF, readWhole(whole, length):
		err = nil
	default:
		whole = nil
	}
	return whole, replayOf(p.buf, body, length), err
}
