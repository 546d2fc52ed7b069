// Package synapse reads Apache Synapse / WSO2 Micro Integrator configuration
// (proxy services, APIs, sequences, endpoints, templates and local entries,
// as XML, with registry keys read from a folder) and maps it to Caddy
// JSON: it is the logic of the "synapse" config adapter.
//
// Synapse XML is parsed with etree into a small model of routes (what a
// request must match), flows (the headers, the call and the fault) and calls
// (the upstreams, the selection policy, retries and health), and the model is
// written out as Caddy JSON with plain maps: the package does not import
// Caddy. Constructs the model cannot express faithfully are refused with an
// error naming the element, its line and column; harmless ones give warnings.
package synapse
