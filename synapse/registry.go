package synapse

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// registryFolders are the folders of WSO2 MI's file-based registry (the
// registry folder of MI's home) that a key's prefix names, as
// MicroIntegratorRegistry.resolveRegistryURI maps them; a key without one of
// these prefixes is in the governance registry. The rest of the key, one
// leading slash dropped, is the file's path there, extension included.
var registryFolders = []struct{ prefix, folder string }{
	{"conf:", "config"},
	{"gov:", "governance"},
	{"local:", "local"},
	{"resources:", "governance/mi-resources"},
}

// registryFile is the file of key in the registry folder root; an error if
// the key leads out of it (which MI refuses too).
func registryFile(root, key string) (string, bool) {
	folder, rest := "governance", key
	for _, f := range registryFolders {
		if r, ok := strings.CutPrefix(key, f.prefix); ok {
			folder, rest = f.folder, r
			break
		}
	}
	base := filepath.Join(root, filepath.FromSlash(folder))
	name := filepath.Join(base, filepath.FromSlash(strings.TrimPrefix(rest, "/")))
	rel, err := filepath.Rel(base, name)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return name, true
}

// fromRegistry is the registry's resource of key: nil for text; an error
// when there is no registry folder or no such file.
func (c *compiler) fromRegistry(at *etree.Element, kind, key string) (*etree.Element, error) {
	if c.registry == "" {
		return nil, c.errorf(at, "no %s named %q, and no registry folder to look it up in (caddy synapse --registry DIR, or SYNAPSE_REGISTRY)", kind, key)
	}
	name, ok := registryFile(c.registry, key)
	if !ok {
		return nil, c.errorf(at, "registry key %q points outside the registry folder", key)
	}
	return c.loadResource(at, name, "no "+kind+" named "+strconv.Quote(key)+", and registry key "+strconv.Quote(key))
}

// registryElement reads a top-level <registry>: the folder of its RegRoot
// parameter, an absolute file: URL (MicroIntegratorRegistry reads a relative
// one from MI's home, which the adapter does not know), is the registry
// folder unless the adapter was given one. Either way a warning says where
// keys are read from, or that they are not.
func (c *compiler) registryElement(r *etree.Element) {
	provider := r.SelectAttrValue("provider", "")
	var root string
	for _, p := range r.SelectElements("parameter") {
		if p.SelectAttrValue("name", "") == "RegRoot" {
			if u, err := url.Parse(strings.TrimSpace(p.Text())); err == nil && u.Scheme == "file" && filepath.IsAbs(filepath.FromSlash(u.Path)) {
				root = filepath.FromSlash(u.Path)
			}
		}
	}
	switch {
	case c.registry != "":
		c.warnf(r, "registry %q: keys are read from the registry folder given to the adapter, %s, laid out as MI's (config, governance, local)", provider, c.registry)
	case root != "":
		c.registry = root
		c.warnf(r, "registry %q: keys are read from its RegRoot, %s, laid out as MI's (config, governance, local)", provider, root)
	default:
		c.warnf(r, "registry %q not read (MI's default root is its home's registry folder): keys that no artifact or local entry defines are refused unless the adapter is given the registry folder (caddy synapse --registry DIR, or SYNAPSE_REGISTRY)", provider)
	}
}
