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
		Usage: "--dir <synapse-configs/default> [--definitions] [--http-port <port>] [--https-port <port>] [--send-to <host:port,...>]",
		Short: "Combines a WSO2 MI deployment folder into Caddy JSON",
		Long: `
Reads the Synapse artifacts of a WSO2 Micro Integrator deployment folder
(synapse-configs/default, with synapse.xml, proxy-services, api, sequences
and endpoints)
and prints the Caddy JSON that the synapse config adapter makes of them, or,
with --definitions, one <definitions> document that
"caddy run --config FILE --adapter synapse" reads. Warnings go to stderr.

The servers listen on MI's ports, 8290 (HTTP) and 8253 (HTTPS), unless
--http-port and --https-port (or SYNAPSE_HTTP_PORT and SYNAPSE_HTTPS_PORT)
say otherwise.

A <send/> without an endpoint (Synapse sends to the message's To address)
goes only to the hosts that --send-to (or SYNAPSE_SEND_TO) lists, as
host:port separated by commas; other hosts get a SOAP fault. Without the
list such a send is refused.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("dir", "", "The deployment folder (synapse-configs/default, or a folder holding it)")
			cmd.Flags().Bool("definitions", false, "Print one <definitions> document instead of Caddy JSON")
			cmd.Flags().Int("http-port", 0, "The HTTP port (default 8290)")
			cmd.Flags().Int("https-port", 0, "The HTTPS port (default 8253)")
			cmd.Flags().String("send-to", "", "The host:port list a <send/> without an endpoint may reach")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdSynapse)
		},
	})
}

func cmdSynapse(fl caddycmd.Flags) (int, error) {
	dir := fl.String("dir")
	if dir == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--dir is required")
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
	opts, err := synapseOptionsFromEnv()
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if p := fl.Int("http-port"); p != 0 {
		opts.HTTPPort = p
	}
	if p := fl.Int("https-port"); p != 0 {
		opts.HTTPSPort = p
	}
	if list := fl.String("send-to"); list != "" {
		if opts.SendTo, err = synapse.ParseSendTo(list); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("--send-to: %w", err)
		}
	}
	out, warnings, err := synapse.Adapt(files, opts)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	for _, w := range warnings {
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
