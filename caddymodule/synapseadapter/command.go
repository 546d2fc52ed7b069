package synapseadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/soap-affinity/caddy-soap-affinity/synapse"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "synapse",
		Usage: "--dir <synapse-configs/default> [--registry <MI registry folder>] [--definitions] [--http-port <port>] [--https-port <port>] [--send-to <host:port,...>] | --report <folder> [--registry <MI registry folder>]",
		Short: "Combines a WSO2 MI deployment folder into Caddy JSON",
		Long: `
Reads the Synapse artifacts of a WSO2 Micro Integrator deployment folder
(synapse-configs/default, with synapse.xml, registry.xml, proxy-services,
api, sequences, endpoints, templates and local-entries)
and prints the Caddy JSON that the synapse config adapter makes of them, or,
with --definitions, one <definitions> document that
"caddy run --config FILE --adapter synapse" reads. Warnings go to stderr.
A folder that defines no main sequence gets Synapse's default one, a log
and a drop: what no proxy or API takes is answered 202 with no body.

The servers listen on MI's ports, 8290 (HTTP) and 8253 (HTTPS), unless
--http-port and --https-port (or SYNAPSE_HTTP_PORT and SYNAPSE_HTTPS_PORT)
say otherwise.

Registry keys (conf:/..., gov:/..., plain keys) that no artifact or local
entry of the folder defines are read from --registry (or SYNAPSE_REGISTRY):
MI's registry folder, holding config, governance and local.

With --report, it reads every XML file of the folder instead and prints,
artifact by artifact, what maps, what is warned about and what is refused
(element, line and column, and what to do instead): the migration at a
glance; Synapse's default main, for a folder without one, is listed as
in no file. Refusals are the report's content: it exits non-zero only when the
folder cannot be read.

A <send/> without an endpoint (Synapse sends to the message's To address)
goes only to the hosts that --send-to (or SYNAPSE_SEND_TO) lists, as
host:port separated by commas; other hosts get a SOAP fault. Without the
list such a send is refused.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("dir", "", "The deployment folder (synapse-configs/default, or a folder holding it)")
			cmd.Flags().Bool("definitions", false, "Print one <definitions> document instead of Caddy JSON")
			cmd.Flags().Int("http-port", 0, "The HTTP port (default 8290)")
			cmd.Flags().Int("https-port", 0, "The HTTPS port (default 8253)")
			cmd.Flags().String("registry", "", "MI's registry folder (holding config, governance, local) that registry keys are read from")
			cmd.Flags().String("report", "", "Print what becomes of each artifact of this folder instead")
			cmd.Flags().String("send-to", "", "The host:port list a <send/> without an endpoint may reach")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdSynapse)
		},
	})
}

func cmdSynapse(fl caddycmd.Flags) (int, error) {
	dir, report := fl.String("dir"), fl.String("report")
	switch {
	case dir != "" && report != "":
		return caddy.ExitCodeFailedStartup, errors.New("--dir and --report go alone: give one folder")
	case report != "":
		return synapseReport(fl, report)
	case dir == "":
		return caddy.ExitCodeFailedStartup, errors.New("--dir or --report is required")
	}
	files, err := synapse.ReadDeployment(dir)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if fl.Bool("definitions") {
		out, err := synapse.Definitions(files)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		_, err = os.Stdout.Write(out)
		return 0, err
	}
	opts, err := synapseCommandOptions(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	opts.Deployment = true // the folder is the whole deployment: it has a main or gets Synapse's
	out, warnings, err := synapse.Adapt(files, opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	for _, w := range warnings {
		if w.File == "" { // what Synapse adds to the deployment, in no file
			fmt.Fprintf(os.Stderr, "[WARNING] <%s>: %s\n", w.Element, w.Message)
			continue
		}
		fmt.Fprintf(os.Stderr, "[WARNING] %s:%d:%d: <%s>: %s\n", w.File, w.Line, w.Col, w.Element, w.Message)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	pretty.WriteByte('\n')
	_, err = pretty.WriteTo(os.Stdout)
	return 0, err
}

// synapseReport prints what becomes of each artifact of the folder.
func synapseReport(fl caddycmd.Flags, dir string) (int, error) {
	files, err := synapse.ReadFolder(dir)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	opts, err := synapseCommandOptions(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	opts.Deployment = true // as --dir: a folder without a main gets Synapse's, which the report shows
	r, err := synapse.NewReport(files, opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return 0, r.WriteText(os.Stdout)
}

// synapseCommandOptions are the ports, registry and send-to hosts from the
// environment, then the flags.
func synapseCommandOptions(fl caddycmd.Flags) (synapse.Options, error) {
	opts, err := synapseOptionsFromEnv()
	if err != nil {
		return opts, err
	}
	if p := fl.Int("http-port"); p != 0 {
		opts.HTTPPort = p
	}
	if p := fl.Int("https-port"); p != 0 {
		opts.HTTPSPort = p
	}
	if r := fl.String("registry"); r != "" {
		opts.Registry = r
	}
	if list := fl.String("send-to"); list != "" {
		if opts.SendTo, err = synapse.ParseSendTo(list); err != nil {
			return opts, fmt.Errorf("--send-to: %w", err)
		}
	}
	return opts, nil
}
