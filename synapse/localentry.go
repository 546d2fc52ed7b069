package synapse

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/beevik/etree"
)

// named finds what key names where an artifact of kind (sequence, endpoint,
// template) is wanted: the artifact of that name, else a local entry holding
// one, else the registry's resource of that key. Synapse looks in that order:
// SynapseConfiguration.getSequence, getEndpoint and getEndpointTemplate
// read the local registry (named artifacts and local entries share it), then
// the registry.
func (c *compiler) named(at *etree.Element, kind, key string) (*etree.Element, error) {
	if a := c.artifacts[kind][key]; a != nil {
		c.used[kind+":"+key] = true
		return a, nil
	}
	if e, ok := c.entries[key]; ok {
		c.used["localEntry:"+key] = true
		v, err := c.entryValue(e)
		if err != nil {
			return nil, err
		}
		if v == nil || v.Tag != kind {
			return nil, c.errorf(at, "local entry %q holds %s, not %s", key, describe(v), withArticle(kind))
		}
		return v, nil
	}
	// Synapse adds its default main and fault to the local registry when
	// the configuration has none, so the registry is not asked for them.
	if kind == "sequence" {
		if d := c.defaultSequence(at, key); d != nil {
			return d, nil
		}
	}
	v, err := c.fromRegistry(at, kind, key)
	if err != nil {
		return nil, err
	}
	if v == nil || v.Tag != kind {
		return nil, c.errorf(at, "registry resource %q holds %s, not %s", key, describe(v), withArticle(kind))
	}
	return v, nil
}

func withArticle(kind string) string {
	return cond(kind == "endpoint", "an ", "a ") + kind
}

func describe(e *etree.Element) string {
	if e == nil {
		return "text"
	}
	return "<" + e.Tag + ">"
}

// entryValue is the element a <localEntry> holds (nil for text), read from
// its src file the first time, a path relative to the entry's file
// (EntryFactory: src, else the first child element, else the text).
func (c *compiler) entryValue(e *etree.Element) (*etree.Element, error) {
	src := e.SelectAttr("src")
	if src == nil {
		for _, ch := range e.ChildElements() {
			if ch.Tag != "description" {
				return ch, nil
			}
		}
		return nil, nil
	}
	name, err := c.localFile(e, src.Value)
	if err != nil {
		return nil, err
	}
	return c.loadResource(e, name, "src "+src.Value)
}

// localFile is the file that the src or uri of at names: a file: URL or a
// path, relative to the folder of at's file. Remote URLs are refused: the
// adapter reads nothing from the network.
func (c *compiler) localFile(at *etree.Element, raw string) (string, error) {
	name, ok := localPath(raw)
	if !ok {
		return "", c.errorf(at, "%q is not a local file: the adapter reads no URL, download it and give it as a file: path or inline", raw)
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(c.pos[at].file), name)
	}
	return name, nil
}

// localPath is the path of a file: URL or a plain path; false for any other
// URL.
func localPath(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "" && u.Scheme != "file") || u.Host != "" {
		return "", false
	}
	return filepath.FromSlash(cmpOr(u.Path, u.Opaque)), true
}

// fileRefs are the attributes that name a local file, by element.
var fileRefs = map[string]string{"localEntry": "src", "wsdl": "uri"}

// anchorFiles makes the relative files that e and its descendants name
// absolute, from dir: they are then found from wherever e is copied to.
func anchorFiles(e *etree.Element, dir string) {
	if a := e.SelectAttr(fileRefs[e.Tag]); a != nil {
		if name, ok := localPath(a.Value); ok && !filepath.IsAbs(name) {
			if abs, err := filepath.Abs(filepath.Join(dir, name)); err == nil {
				a.Value = abs
			}
		}
	}
	for _, ch := range e.ChildElements() {
		anchorFiles(ch, dir)
	}
}

// maxResourceSize bounds the files that configuration refers to.
const maxResourceSize = 16 << 20

// loadResource reads an XML file that configuration refers to, once; its
// elements get positions in that file. A file that is not XML is text: nil
// (as MI's registry reads it).
func (c *compiler) loadResource(at *etree.Element, name, what string) (*etree.Element, error) {
	if r, ok := c.loaded[name]; ok {
		return r, nil
	}
	// Only a regular file of a configuration's size: a device or a pipe
	// could be read forever.
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, c.errorf(at, "%s: no file %s", what, name)
	}
	if err == nil && (!fi.Mode().IsRegular() || fi.Size() > maxResourceSize) {
		err = fmt.Errorf("%s is not a regular file of at most %d bytes", name, maxResourceSize)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, c.errorf(at, "%s: %v", what, err)
	}
	var root *etree.Element
	switch d, err := parse(File{Name: name, Data: data}); {
	case err == nil:
		maps.Copy(c.pos, d.pos)
		c.harmless(d.root)
		root = d.root
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("<")):
		return nil, err // meant as XML
	}
	c.loaded[name] = root
	return root, nil
}
