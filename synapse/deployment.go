package synapse

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// The folders of a WSO2 MI deployment (synapse-configs/default) that hold
// what the adapter maps, in the order their files are read (Synapse's
// MultiXMLConfigurationBuilder names them).
var deploymentFolders = []string{"local-entries", "endpoints", "sequences", "templates", "proxy-services", "api"}

// ReadDeployment reads the XML files of a WSO2 MI deployment: dir is the
// synapse-configs/default folder, or a folder (such as MI's
// repository/deployment/server) holding synapse-configs/default. Its
// synapse.xml and registry.xml, if any, are read first, then the folders.
// Folders of artifacts of other kinds (tasks, inbound endpoints, ...) are
// refused.
func ReadDeployment(dir string) ([]File, error) {
	if nested := filepath.Join(dir, "synapse-configs", "default"); isDir(nested) {
		dir = nested
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		xmls, err := filepath.Glob(filepath.Join(dir, e.Name(), "*.xml"))
		if err != nil {
			return nil, err
		}
		if len(xmls) > 0 && !slices.Contains(deploymentFolders, e.Name()) {
			return nil, fmt.Errorf("%s: %s are not supported (supported: %s)", filepath.Join(dir, e.Name()), e.Name(), strings.Join(deploymentFolders, ", "))
		}
	}
	// Synapse's single-file layout, which MI reads too: the synapse.xml at
	// the top of the folder, a <definitions> of any artifacts; and MI's
	// registry.xml, its <registry>.
	for _, top := range []string{"synapse.xml", "registry.xml"} {
		single := filepath.Join(dir, top)
		if isDir(single) {
			continue
		}
		switch data, err := os.ReadFile(single); {
		case err == nil:
			files = append(files, File{Name: single, Data: data})
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	for _, folder := range deploymentFolders {
		xmls, _ := filepath.Glob(filepath.Join(dir, folder, "*.xml"))
		slices.Sort(xmls)
		for _, name := range xmls {
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Name: name, Data: data})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no artifacts in synapse.xml, %s", dir, strings.Join(deploymentFolders, ", "))
	}
	return files, nil
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// Definitions combines the artifacts of files, a whole deployment, into
// one <definitions> document, Synapse's synapse.xml. The local files they
// name (a local entry's src, a wsdl endpoint's uri) are made absolute,
// since they are read relative to the file that names them. Where no file
// defines a main sequence, Synapse's default one is added, as it is to the
// deployment (see defaultMain), so that the document adapts as the folder
// does.
func Definitions(files []File) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	defs := doc.CreateElement("definitions")
	defs.CreateAttr("xmlns", Namespace)
	hasMain := false
	for _, f := range files {
		d, err := parse(f)
		if err != nil {
			return nil, err
		}
		for _, a := range d.artifacts() {
			hasMain = hasMain || definesMain(a)
			cp := a.Copy()
			anchorFiles(cp, filepath.Dir(f.Name))
			defs.AddChild(cp)
		}
	}
	if !hasMain {
		defs.AddChild(defaultSequenceElement("main"))
	}
	doc.Indent(4)
	return doc.WriteToBytes()
}

// definesMain says whether a is the main sequence, or a local entry that
// Synapse would take for it (SynapseConfiguration.getMainSequence reads the
// local registry).
func definesMain(a *etree.Element) bool {
	return a.Tag == "sequence" && a.SelectAttrValue("name", "") == "main" ||
		a.Tag == "localEntry" && a.SelectAttrValue("key", "") == "main"
}
