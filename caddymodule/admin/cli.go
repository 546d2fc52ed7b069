package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "soap-affinity",
		Usage: "upstreams|drain|undrain|sessions [--address <admin>] [--json]",
		Short: "Shows and drains the upstreams and sessions of simple_client_session policies",
		Long: `
Talks to the admin endpoint of a running Caddy (--address, by default
Caddy's own, localhost:2019), as 'caddy reload' does:

  caddy soap-affinity sessions                      every policy: sessions, timeout, expiry
  caddy soap-affinity sessions <policy>             a policy's sessions (--upstream, --limit, --cursor)
  caddy soap-affinity upstreams <policy>            each upstream: sessions, draining, available
  caddy soap-affinity drain <policy> <host:port>    new sessions go elsewhere; its sessions stay
      (--deadline 10m: then they are placed anew; --wait: until none is left)
  caddy soap-affinity undrain <policy> <host:port>  ends the drain

Output is a table; --json prints the admin API's answer instead.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("address", "", "Address of Caddy's admin endpoint (default "+defaultAdminAddress()+")")
			cmd.PersistentFlags().Bool("json", false, "Print the admin API's JSON instead of a table")
			cmd.AddCommand(
				cliCommand("upstreams <policy>", "Lists a policy's upstreams: sessions, draining, available", 1, cliUpstreams),
				drainCommand(),
				cliCommand("undrain <policy> <host:port>", "Ends the drain of an upstream", 2, cliDrain(http.MethodDelete)),
				sessionsCommand(),
			)
		},
	})
}

func defaultAdminAddress() string {
	addr, _ := caddycmd.DetermineAdminAPIAddress("", nil, "", "")
	return addr
}

// cliRun runs one subcommand against the admin endpoint.
type cliRun func(c *cobra.Command, args []string, api adminClient) error

func cliCommand(use, short string, nargs int, run cliRun) *cobra.Command {
	return &cobra.Command{
		Use:          use,
		Short:        short,
		Args:         cobra.ExactArgs(nargs),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			api, err := newAdminClient(c)
			if err != nil {
				return err
			}
			return run(c, args, api)
		},
	}
}

// adminClient calls the admin endpoint and prints its answers.
type adminClient struct {
	address string
	json    bool
	out     io.Writer
}

func newAdminClient(c *cobra.Command) (adminClient, error) {
	address, _ := c.Flags().GetString("address")
	asJSON, _ := c.Flags().GetBool("json")
	address, err := caddycmd.DetermineAdminAPIAddress(address, nil, "", "")
	return adminClient{address: address, json: asJSON, out: c.OutOrStdout()}, err
}

// call sends one request and decodes the JSON answer into out; with --json it
// prints the answer as it came instead and returns printed = true.
func (a adminClient) call(method, uri string, out any) (printed bool, err error) {
	resp, err := caddycmd.AdminAPIRequest(a.address, method, uri, nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("reading the answer of %s %s: %w", method, uri, err)
	}
	if a.json {
		_, err = a.out.Write(body)
		return true, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return false, fmt.Errorf("decoding the answer of %s %s: %w", method, uri, err)
	}
	return false, nil
}

// table prints rows under a header, in aligned columns.
func (a adminClient) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			sep := "\t"
			if i == len(row)-1 {
				sep = "\n"
			}
			fmt.Fprint(tw, cell, sep)
		}
	}
	return tw.Flush()
}

func policyPath(policy, rest string) string {
	return adminPrefix + "policies/" + url.PathEscape(policy) + "/" + rest
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a adminClient) printUpstreams(list []state.UpstreamInfo) error {
	header := []string{"UPSTREAM", "SESSIONS", "DRAINING", "AVAILABLE"}
	withDeadline := slices.ContainsFunc(list, func(u state.UpstreamInfo) bool { return !u.Deadline.IsZero() })
	if withDeadline {
		header = append(header, "DEADLINE")
	}
	rows := make([][]string, len(list))
	for i, u := range list {
		draining := yesNo(u.Draining)
		if u.Drained {
			draining = "drained"
		}
		rows[i] = []string{u.Upstream, strconv.Itoa(u.Sessions), draining, yesNo(u.Available)}
		if withDeadline {
			rows[i] = append(rows[i], formatDeadline(u.Deadline))
		}
	}
	return a.table(header, rows)
}

func formatDeadline(at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	return at.UTC().Format(time.RFC3339)
}

func cliUpstreams(_ *cobra.Command, args []string, api adminClient) error {
	var list upstreamList
	if printed, err := api.call(http.MethodGet, policyPath(args[0], "upstreams"), &list); printed || err != nil {
		return err
	}
	return api.printUpstreams(list.Upstreams)
}

func cliDrain(method string) cliRun {
	return func(_ *cobra.Command, args []string, api adminClient) error {
		u, printed, err := api.setDrain(method, args[0], args[1], "")
		if printed || err != nil {
			return err
		}
		return api.printUpstreams([]state.UpstreamInfo{u})
	}
}

// setDrain starts (POST) or ends (DELETE) the drain of upstream, with a
// deadline if not "", and returns the upstream as the answer lists it.
func (a adminClient) setDrain(method, policy, upstream, deadline string) (u state.UpstreamInfo, printed bool, err error) {
	q := url.Values{"upstream": {upstream}}
	if deadline != "" {
		q.Set("deadline", deadline)
	}
	printed, err = a.call(method, policyPath(policy, "drain")+"?"+q.Encode(), &u)
	return u, printed, err
}

func drainCommand() *cobra.Command {
	c := cliCommand("drain <policy> <host:port>", "Drains an upstream: no new sessions; its sessions stay until they end or the deadline passes", 2, cliStartDrain)
	c.Flags().String("deadline", "", "After this long (a duration, such as 10m), the sessions still on it are placed anew on their next request")
	c.Flags().Bool("wait", false, "Wait until no session is left on it or its deadline passed, printing the sessions left as they fall")
	c.Flags().Duration("timeout", 0, "With --wait: give up after this long and exit 1")
	return c
}

func cliStartDrain(c *cobra.Command, args []string, api adminClient) error {
	deadline, _ := c.Flags().GetString("deadline")
	wait, _ := c.Flags().GetBool("wait")
	timeout, _ := c.Flags().GetDuration("timeout")
	switch {
	case timeout < 0:
		return fmt.Errorf("--timeout %s: want a duration above 0", timeout)
	case timeout > 0 && !wait:
		return errors.New("--timeout is for --wait")
	case wait && deadline == "" && timeout == 0:
		// An unbounded wait could hang a script for as long as a client
		// keeps its session alive.
		return errors.New("--wait needs --deadline or --timeout, so that it ends")
	}
	u, printed, err := api.setDrain(http.MethodPost, args[0], args[1], deadline)
	if err != nil {
		return err
	}
	if !printed {
		if err := api.printUpstreams([]state.UpstreamInfo{u}); err != nil {
			return err
		}
	} else if wait {
		// The answer as it came; the rows that follow are re-encoded.
		if u, err = api.upstream(args[0], args[1]); err != nil {
			return err
		}
	}
	if !wait {
		return nil
	}
	var giveUp time.Time
	if timeout > 0 {
		giveUp = time.Now().Add(timeout)
	}
	return api.waitDrained(args[0], u, giveUp)
}

// drainPollEvery is how often --wait asks for the sessions left.
const drainPollEvery = time.Second

// waitDrained polls upstream u of policy until no session is left on it, its
// deadline passed, or giveUp (if not zero) passed, printing the sessions left
// each time they change.
func (a adminClient) waitDrained(policy string, u state.UpstreamInfo, giveUp time.Time) error {
	last := u.Sessions
	for {
		now := time.Now()
		switch {
		case !u.Draining:
			return fmt.Errorf("%s is no longer draining (an undrain, or a reload that removed it)", u.Upstream)
		case u.Drained:
			return a.progress(u, "drained")
		case !u.Deadline.IsZero() && !now.Before(u.Deadline):
			return a.progress(u, fmt.Sprintf("deadline passed, %d left: each is placed anew on its next request", u.Sessions))
		case !giveUp.IsZero() && !now.Before(giveUp):
			return fmt.Errorf("%s: %d sessions left when --timeout passed", u.Upstream, u.Sessions)
		case u.Sessions != last:
			if err := a.progress(u, fmt.Sprintf("%d left", u.Sessions)); err != nil {
				return err
			}
			last = u.Sessions
		}
		sleep := drainPollEvery
		for _, end := range []time.Time{u.Deadline, giveUp} {
			if !end.IsZero() {
				sleep = min(sleep, time.Until(end))
			}
		}
		time.Sleep(max(sleep, 0))
		var err error
		if u, err = a.upstream(policy, u.Upstream); err != nil {
			return err
		}
	}
}

// progress prints one step of a wait: a line, or with --json the upstream.
func (a adminClient) progress(u state.UpstreamInfo, line string) error {
	if a.json {
		return json.NewEncoder(a.out).Encode(u)
	}
	_, err := fmt.Fprintf(a.out, "%s  %s\n", u.Upstream, line)
	return err
}

// upstream returns one upstream of policy as GET .../upstreams lists it.
func (a adminClient) upstream(policy, key string) (state.UpstreamInfo, error) {
	decoded := a
	decoded.json = false
	var list upstreamList
	if _, err := decoded.call(http.MethodGet, policyPath(policy, "upstreams"), &list); err != nil {
		return state.UpstreamInfo{}, err
	}
	for _, u := range list.Upstreams {
		if u.Upstream == key {
			return u, nil
		}
	}
	return state.UpstreamInfo{}, fmt.Errorf("policy %s no longer lists upstream %s", policy, key)
}

func sessionsCommand() *cobra.Command {
	c := cliCommand("sessions [<policy>]", "Lists the policies, or one policy's sessions", 0, cliSessions)
	c.Args = cobra.MaximumNArgs(1)
	c.Flags().String("upstream", "", "Only the sessions bound to this host:port")
	c.Flags().Int("limit", defaultPageLimit, "The most sessions to list")
	c.Flags().String("cursor", "", "Continue after the page that printed this cursor")
	return c
}

func cliSessions(c *cobra.Command, args []string, api adminClient) error {
	if len(args) == 0 {
		var list struct {
			Policies []PolicyInfo `json:"policies"`
		}
		if printed, err := api.call(http.MethodGet, adminPrefix+"policies", &list); printed || err != nil {
			return err
		}
		rows := make([][]string, len(list.Policies))
		for i, p := range list.Policies {
			rows[i] = []string{p.Name, strconv.Itoa(p.Sessions), p.Timeout, p.Expiry, strconv.Itoa(p.MaxSessions)}
		}
		return api.table([]string{"POLICY", "SESSIONS", "TIMEOUT", "EXPIRY", "MAX_SESSIONS"}, rows)
	}
	q := url.Values{}
	for _, name := range []string{"upstream", "cursor"} {
		if v, _ := c.Flags().GetString(name); v != "" {
			q.Set(name, v)
		}
	}
	if c.Flags().Changed("limit") {
		limit, _ := c.Flags().GetInt("limit")
		q.Set("limit", strconv.Itoa(limit))
	}
	uri := policyPath(args[0], "sessions")
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	var page sessionPage
	if printed, err := api.call(http.MethodGet, uri, &page); printed || err != nil {
		return err
	}
	// A page comes in table order; a reader looks for ids.
	slices.SortFunc(page.Sessions, func(a, b sessionaffinity.SessionInfo) int { return strings.Compare(a.ID, b.ID) })
	rows := make([][]string, len(page.Sessions))
	for i, s := range page.Sessions {
		rows[i] = []string{s.ID, s.Upstream, strconv.FormatUint(s.Requests, 10),
			s.LastUsed.Format(time.RFC3339), s.Expires.Format(time.RFC3339)}
	}
	if err := api.table([]string{"SESSION", "UPSTREAM", "REQUESTS", "LAST_USED", "EXPIRES"}, rows); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(os.Stderr, "more: --cursor %s\n", page.NextCursor)
	}
	return nil
}
