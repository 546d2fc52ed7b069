package synapseadapter

import (
	"fmt"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/soap-affinity/caddy-soap-affinity/synapse"
)

func init() {
	caddyconfig.RegisterAdapter("synapse", SynapseAdapter{})
}

// Environment variables that move the adapted servers off MI's default ports
// and name the registry folder (read when the config is adapted, as the
// Caddyfile's {$VAR}: `caddy adapt` and `caddy run` give an adapter no other
// options than the file's name).
const (
	envSynapseHTTPPort  = "SYNAPSE_HTTP_PORT"
	envSynapseHTTPSPort = "SYNAPSE_HTTPS_PORT"
	envSynapseRegistry  = "SYNAPSE_REGISTRY"
	// The host:port list that a <send/> without an endpoint may reach.
	envSynapseSendTo = "SYNAPSE_SEND_TO"
)

// SynapseAdapter adapts Apache Synapse / WSO2 MI XML (one artifact, or a
// <definitions> holding several) to Caddy JSON: `caddy run --config FILE
// --adapter synapse`. The mapping lives in package synapse.
type SynapseAdapter struct{}

// Adapt implements caddyconfig.Adapter.
func (SynapseAdapter) Adapt(body []byte, options map[string]any) ([]byte, []caddyconfig.Warning, error) {
	name, _ := options["filename"].(string)
	opts, err := synapseOptionsFromEnv()
	if err != nil {
		return nil, nil, err
	}
	out, warnings, err := synapse.Adapt([]synapse.File{{Name: name, Data: body}}, opts)
	return out, caddyWarnings(warnings), err
}

// synapseOptionsFromEnv reads the ports, the registry folder and the
// send-to hosts from the environment.
func synapseOptionsFromEnv() (synapse.Options, error) {
	opts := synapse.Options{Registry: os.Getenv(envSynapseRegistry)}
	sendTo, err := synapse.ParseSendTo(os.Getenv(envSynapseSendTo))
	if err != nil {
		return opts, fmt.Errorf("%s: %w", envSynapseSendTo, err)
	}
	opts.SendTo = sendTo
	for env, port := range map[string]*int{envSynapseHTTPPort: &opts.HTTPPort, envSynapseHTTPSPort: &opts.HTTPSPort} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return opts, fmt.Errorf("%s=%q is not a port", env, v)
		}
		*port = p
	}
	return opts, nil
}

func caddyWarnings(ws []synapse.Warning) []caddyconfig.Warning {
	out := make([]caddyconfig.Warning, len(ws))
	for i, w := range ws {
		out[i] = caddyconfig.Warning{
			File:      w.File,
			Line:      w.Line,
			Directive: w.Element,
			Message:   fmt.Sprintf("column %d: %s", w.Col, w.Message),
		}
	}
	return out
}

// Interface guard.
var _ caddyconfig.Adapter = SynapseAdapter{}
