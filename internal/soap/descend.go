package soap

import "encoding/xml"

// DescendantText reads the current block to its end and returns the text of
// the element that path leads to from it: the block's first child called
// path[0], that element's first child called path[1], and so on, as Axiom's
// getFirstChildWithName walks. found is false when the path leads nowhere, or
// on error (see Err).
func (s *xmlHeaderScanner) DescendantText(path ...xml.Name) (text string, found bool) {
	const blockDepth = 3
	matched := 0     // path elements entered, at depths blockDepth+1 ...
	decided := false // the first candidate of the deepest level has ended
	var buf []byte
	for s.inBlock {
		tok, err := s.dec.Token()
		if err != nil {
			s.err, s.inBlock = err, false
			return "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.depth++
			if !decided && matched < len(path) && s.depth == blockDepth+1+matched && t.Name == path[matched] {
				matched++
			}
		case xml.CharData:
			if !decided && matched == len(path) && s.depth == blockDepth+len(path) {
				buf = append(buf, t...)
			}
		case xml.EndElement:
			if !decided && s.depth == blockDepth+matched {
				// The deepest element entered ends: had it the next step of
				// the path, it was entered; the first of a name decides.
				decided = true
			}
			if s.depth == blockDepth {
				s.block.End, s.inBlock = int(s.dec.InputOffset()), false
			}
			s.depth--
		}
	}
	return string(buf), decided && matched == len(path)
}
