package synapse

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
)

// TestDeclaredEncoding reads a document in the encoding its XML declaration
// names, with the lines of the original, and refuses an encoding Go does not
// know, naming the file and the encoding.
func TestDeclaredEncoding(t *testing.T) {
	latin1 := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<proxy name=\"P\">\n  <!-- caf\xe9 -->\n  <target>\n    <inSequence><enrich/></inSequence>\n  </target>\n</proxy>\n"
	_, _, err := Adapt([]File{{Name: "p.xml", Data: []byte(latin1)}}, Options{})
	if want := "p.xml: line 5, column 17: <enrich>: mediator not supported"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want it to start with %q", err, want)
	}

	// ISO-8859-1 is Latin-1, as Java reads it, not windows-1252 (the WHATWG
	// reading of the label): 0x80 is U+0080, not the euro sign.
	d, err := parse(File{Data: []byte("<?xml version='1.0' encoding='iso-8859-1'?><a b='\x80\xe9'/>")})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.root.SelectAttrValue("b", ""); got != "\u0080\u00e9" {
		t.Errorf("attribute = %q, want %q", got, "\u0080\u00e9")
	}
	// A blank line before the declaration (which XML does not allow, but
	// files have) does not hide it.
	if d, err := parse(File{Data: []byte("\n<?xml version='1.0' encoding='ISO-8859-1'?><a b='\xe9'/>")}); err != nil || d.root.SelectAttrValue("b", "") != "\u00e9" {
		t.Errorf("after a blank line: %v", err)
	}
	for _, label := range []string{"UTF-8", "utf8", "US-ASCII", "windows-1252", "Shift_JIS"} {
		if _, err := parse(File{Data: []byte("<?xml version=\"1.0\" encoding=\"" + label + "\"?><a/>")}); err != nil {
			t.Errorf("%s: %v", label, err)
		}
	}

	_, _, err = Adapt([]File{{Name: "x.xml", Data: []byte("<?xml version=\"1.0\" encoding=\"EBCDIC-XYZ\"?>\n<proxy/>")}}, Options{})
	if want := `x.xml: line 1, column 1: encoding "EBCDIC-XYZ" is not supported: not a character set Go knows by that name` + "\nhint: save the file as UTF-8 (and say so in its XML declaration)"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestUTF16 reads UTF-16 documents, with a byte order mark or without one
// (then known by how "<?" is written, as XML 1.0's appendix F detects it),
// with the lines and columns of the decoded text.
func TestUTF16(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<proxy name=\"P\">\n  <!-- caf\u00e9 -->\n  <target>\n    <inSequence><enrich/></inSequence>\n  </target>\n</proxy>\n"
	for name, enc := range map[string]encoding.Encoding{
		"little endian, BOM":    unicode.UTF16(unicode.LittleEndian, unicode.UseBOM),
		"big endian, BOM":       unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
		"little endian, no BOM": unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
		"big endian, no BOM":    unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	} {
		data, err := enc.NewEncoder().Bytes([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Adapt([]File{{Name: "p.xml", Data: data}}, Options{})
		if want := "p.xml: line 5, column 17: <enrich>: mediator not supported"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error = %v, want it to start with %q", name, err, want)
		}
	}
}
