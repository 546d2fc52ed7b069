package soap

import (
	"bytes"
	"encoding/xml"
	"io"
)

// peekPlainBlock is PeekBlock for a body that is its envelope as it stands
// (not encoded, not MTOM), as nearly every request is. It reads with
// fastBlockScanner, which costs one allocation (the reader, the replay and
// the first chunk of the body together), and turns to xmlHeaderScanner
// (encoding/xml) on the same bytes when that cannot answer.
func peekPlainBlock(body io.ReadCloser, length int64, limit int, name xml.Name) (text []byte, found bool, replay io.ReadCloser, err error) {
	p := &blockPeek{}
	p.reader = peekReader{src: body, limit: limit, buf: p.first[:0:min(limit, firstPeekChunk)]}
	text, found, err = p.scan(name)
	if readWhole(p.reader.buf, length) {
		// replayOf's in-memory body, with its bytes.Reader in the one
		// allocation the peek makes anyway.
		p.whole.Reset(p.reader.buf)
		return text, found, io.NopCloser(&p.whole), err
	}
	p.replay = replayBody{prefix: p.reader.buf, rest: body}
	return text, found, &p.replay, err
}

type blockPeek struct {
	reader peekReader
	replay replayBody
	whole  bytes.Reader
	first  [firstPeekChunk]byte
}

func (p *blockPeek) scan(name xml.Name) (text []byte, found bool, err error) {
	sc := fastBlockScanner{want: name}
	for range scanMaxResumes {
		if p.reader.fill() != nil {
			break // the end, the limit or a read error: encoding/xml meets it too
		}
		switch sc.scan(p.reader.buf) {
		case scanDone:
			switch sc.result {
			case foundBlock:
				return sc.Text(p.reader.buf), true, nil
			case notSOAP:
				return nil, false, ErrNotSOAP
			default:
				return nil, false, nil
			}
		case scanOdd:
			return p.slow(name)
		}
	}
	return p.slow(name)
}

// slow asks xmlHeaderScanner, from the first byte peeked, and keeps what it read.
func (p *blockPeek) slow(name xml.Name) (text []byte, found bool, err error) {
	p.reader.pos = 0
	sc := &xmlHeaderScanner{peek: p.reader}
	sc.dec = xml.NewDecoder(&sc.peek)
	sc.dec.CharsetReader = charsetReader
	defer func() { p.reader = sc.peek }()
	for sc.Next() {
		if sc.Block().Name != name {
			continue
		}
		if t, ok := sc.Text(); ok {
			return []byte(t), true, nil
		}
	}
	return nil, false, sc.Err()
}
