package synapse

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Default ports of WSO2 Micro Integrator's pass-through transports.
const (
	DefaultHTTPPort  = 8290
	DefaultHTTPSPort = 8253
)

// Options change what the adapter writes.
type Options struct {
	HTTPPort  int // 0: DefaultHTTPPort
	HTTPSPort int // 0: DefaultHTTPSPort
	// Registry is the folder of WSO2 MI's file-based registry (holding
	// config, governance, local) that registry keys are read from; "":
	// keys that nothing in the files defines are refused.
	Registry string
	// SendTo lists the host:port that a <send/> without an endpoint may
	// reach (see ParseSendTo); without them such a send is refused.
	SendTo []string
	// Deployment says the files are a whole deployment (caddy synapse
	// --dir): where none defines a main sequence, Synapse's default one
	// takes what no proxy or API takes (see defaultMain). A file adapted
	// alone does not say whether its deployment has a main elsewhere.
	Deployment bool
}

// Adapt maps the Synapse artifacts of files to Caddy JSON. Named sequences
// and endpoints may be in any of the files; proxies and APIs become routes.
func Adapt(files []File, opts Options) ([]byte, []Warning, error) {
	return adapt(files, opts, nil)
}

// adapt is Adapt without the top-level artifacts that start at a position in
// dropped: Report leaves out the artifacts it has found refused, to see what
// the others give.
func adapt(files []File, opts Options, dropped map[position]bool) ([]byte, []Warning, error) {
	for _, p := range []int{opts.HTTPPort, opts.HTTPSPort} {
		if p < 0 || p > 65535 {
			return nil, nil, fmt.Errorf("port %d out of range 1-65535", p)
		}
	}
	for _, h := range opts.SendTo {
		if err := checkSendTo(h); err != nil {
			return nil, nil, err
		}
	}
	c := &compiler{
		opts:      opts,
		sequences: map[string]*etree.Element{},
		endpoints: map[string]*etree.Element{},
		templates: map[string]*etree.Element{},
		entries:   map[string]*etree.Element{},
		loaded:    map[string]*etree.Element{},
		registry:  opts.Registry,
		pos:       map[*etree.Element]position{},
		mapped:    map[*etree.Element]bool{},
	}
	c.artifacts = map[string]map[string]*etree.Element{"sequence": c.sequences, "endpoint": c.endpoints, "template": c.templates}
	var artifacts []*etree.Element
	for _, f := range files {
		d, err := parse(f)
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(c.pos, d.pos)
		for _, a := range d.artifacts() {
			if !dropped[d.pos[a]] {
				artifacts = append(artifacts, a)
				c.harmless(a)
			}
		}
	}
	services, err := c.compile(artifacts)
	if err != nil {
		return nil, nil, err
	}
	// In file order; a named endpoint used twice warns once.
	slices.SortStableFunc(c.warnings, func(a, b Warning) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	c.warnings = slices.Compact(c.warnings)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(caddyConfig(services, opts)); err != nil {
		return nil, nil, fmt.Errorf("encoding JSON: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), c.warnings, nil
}

// compiler holds what adapting the files has learned so far.
type compiler struct {
	opts      Options
	sequences map[string]*etree.Element
	endpoints map[string]*etree.Element
	templates map[string]*etree.Element
	artifacts map[string]map[string]*etree.Element // the three above by tag
	entries   map[string]*etree.Element            // local entries by key
	loaded    map[string]*etree.Element            // files read for src and registry keys (nil: text)
	registry  string
	serving   string          // what is being mapped: "proxy" or "api"
	methods   []string        // of the API resource being mapped
	vars      []string        // the resource's path variables, named groups of its path_regexp
	used      map[string]bool // "sequence:name", "endpoint:name", "localEntry:key", ...: used somewhere
	mediators int             // mapped so far, inlined sequences counted each time
	branches  int             // of filters and switches, counted for each way
	pos       map[*etree.Element]position
	warnings  []Warning
	// The mediators mapped on some way, and those skipped on some way.
	mapped  map[*etree.Element]bool
	skipped []*etree.Element
}

func (c *compiler) errorf(e *etree.Element, format string, args ...any) error {
	p := c.pos[e]
	return &Error{File: p.file, Line: p.line, Col: p.col, Element: e.Tag, Message: fmt.Sprintf(format, args...)}
}

func (c *compiler) warnf(e *etree.Element, format string, args ...any) {
	p := c.pos[e]
	c.warnings = append(c.warnings, Warning{File: p.file, Line: p.line, Col: p.col, Element: e.Tag, Message: fmt.Sprintf(format, args...)})
}

// harmless warns about the constructs that change nothing in Caddy, wherever
// they are: descriptions and the statistics and trace switches.
func (c *compiler) harmless(e *etree.Element) {
	if e.Tag == "description" {
		c.warnf(e, "ignored (documentation only)")
		return
	}
	for _, a := range []string{"statistics", "trace"} {
		if e.SelectAttr(a) != nil {
			c.warnf(e, "%s=%q ignored: use Caddy's metrics and logs", a, e.SelectAttrValue(a, ""))
		}
	}
	for _, ch := range e.ChildElements() {
		c.harmless(ch)
	}
}

// compile registers the named sequences and endpoints, then maps the proxies
// and APIs.
func (c *compiler) compile(artifacts []*etree.Element) ([]*service, error) {
	var served []*etree.Element
	for _, a := range artifacts {
		switch a.Tag {
		case "sequence", "endpoint", "template", "localEntry":
			if err := c.register(a); err != nil {
				return nil, err
			}
		case "registry":
			c.registryElement(a)
		case "proxy", "api":
			served = append(served, a)
		case "description":
		case "taskManager":
			// In the synapse.xml MI ships; tasks themselves are refused.
			c.warnf(a, "ignored: no tasks are mapped")
		default:
			return nil, c.errorf(a, "artifact not supported (supported: proxy, api, sequence, endpoint, template, localEntry, registry)")
		}
	}
	if c.opts.Deployment && c.sequences["main"] == nil && c.entries["main"] == nil {
		c.sequences["main"] = c.defaultMain()
	}
	c.used = map[string]bool{}
	var services []*service
	for _, a := range served {
		var s *service
		var err error
		if a.Tag == "proxy" {
			s, err = c.proxy(a)
		} else {
			s, err = c.api(a)
		}
		if err != nil {
			return nil, err
		}
		if s != nil {
			services = append(services, s)
		}
	}
	// Proxy services are Axis2's services, dispatched before any API;
	// Synapse tries APIs longest context first
	// (SynapseConfiguration.reconstructAPITable), which matters now that
	// an API answers everything under its context.
	slices.SortStableFunc(services, func(a, b *service) int {
		if a.api != b.api {
			return cond(a.api, 1, -1)
		}
		return cmp.Compare(len(b.context), len(a.context))
	})
	main, err := c.mainOrWarning()
	if err != nil {
		return nil, err
	}
	if main != nil {
		services = append(services, main) // last: it takes what the others do not
	}
	c.warnNeverMapped()
	c.warnUnused(artifacts)
	return services, nil
}

// register files a named sequence, endpoint or template under its name, a
// local entry under its key.
func (c *compiler) register(a *etree.Element) error {
	attr := cond(a.Tag == "localEntry", "key", "name")
	name := a.SelectAttrValue(attr, "")
	if name == "" {
		return c.errorf(a, "a top-level %s needs a %s", a.Tag, attr)
	}
	// Synapse keeps local entries in the local registry with the named
	// artifacts, and refuses a key that a local entry holds already
	// (SynapseConfiguration.assertAlreadyExists).
	if _, dup := c.entries[name]; dup {
		return c.errorf(a, "%q is the key of a local entry already (Synapse refuses a duplicate)", name)
	}
	if a.Tag == "localEntry" {
		for _, kind := range slices.Sorted(maps.Keys(c.artifacts)) {
			if c.artifacts[kind][name] != nil {
				return c.errorf(a, "%q is the name of a %s already (Synapse refuses a duplicate)", name, kind)
			}
		}
		c.entries[name] = a
		return nil
	}
	named := c.artifacts[a.Tag]
	if _, dup := named[name]; dup {
		return c.errorf(a, "a second %s named %q", a.Tag, name)
	}
	named[name] = a
	return nil
}

// warnUnused warns about the named sequences, endpoints, templates and
// local entries that no proxy, API or main uses: they are not mapped, and
// not checked either, since what a sequence may hold depends on where it
// runs (and an endpoint's mapping on the proxy or API that calls it)
// (fault, which targets without a faultSequence and main use, is unused
// when each has its own).
func (c *compiler) warnUnused(artifacts []*etree.Element) {
	for _, a := range artifacts {
		name := a.SelectAttrValue(cond(a.Tag == "localEntry", "key", "name"), "")
		if c.artifacts[a.Tag] == nil && a.Tag != "localEntry" || c.used[a.Tag+":"+name] {
			continue
		}
		switch {
		case a.Tag == "localEntry":
			c.warnf(a, "local entry %q is used by nothing the adapter maps: not mapped", name)
		case a.Tag == "template":
			c.warnf(a, "template %q is used by no proxy or API: not mapped", name)
		case a.Tag == "endpoint":
			c.warnf(a, "endpoint %q is used by no proxy or API: not mapped", name)
		case name == "fault":
			c.warnf(a, "sequence \"fault\" (Synapse's for the errors of proxies and API resources without a faultSequence) is not mapped: none here lacks one")
		default:
			c.warnf(a, "sequence %q is used by no proxy or API: not mapped", name)
		}
	}
}
