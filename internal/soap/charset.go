package soap

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// charsetReader lets the scanner read envelopes whose XML declaration names
// an ASCII-compatible alias of UTF-8 instead of giving up on them: utf8 is
// read as UTF-8; US-ASCII and ISO-8859-1 are read as long as the bytes are
// ASCII, where the three agree, which a session id is. A byte beyond ASCII
// there stops the scan as malformed XML rather than be decoded, so that the
// offsets the scanner records stay those of the body's bytes. Any other
// encoding is refused, as before.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf8", "unicode-1-1-utf-8":
		return input, nil
	case "us-ascii", "ascii", "iso-ir-6", "ansi_x3.4-1968", "ansi_x3.4-1986", "iso646-us", "us", "cp367", "ibm367", "csascii",
		"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "iso-ir-100", "cp819", "ibm819", "csisolatin1":
		src, ok := input.(io.ByteReader)
		if !ok {
			src = bufio.NewReader(input)
		}
		return &asciiReader{src: src, label: label}, nil
	}
	return nil, fmt.Errorf("xml: encoding %q is not read", label)
}

// asciiReader passes ASCII bytes through and fails at the first other one.
type asciiReader struct {
	src   io.ByteReader
	label string
}

func (r *asciiReader) ReadByte() (byte, error) {
	b, err := r.src.ReadByte()
	if err == nil && b >= 0x80 {
		return 0, fmt.Errorf("xml: byte %#x beyond ASCII in a body declared %s", b, r.label)
	}
	return b, err
}

func (r *asciiReader) Read(p []byte) (int, error) {
	for i := range p {
		b, err := r.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = b
	}
	return len(p), nil
}
