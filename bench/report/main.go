// Command report turns the harness's raw measurements into the results: a
// Markdown table (medians over rounds, ratios to Caddy round_robin, the
// issue's target ratios, memory per session) and an SVG bar chart.
//
//	report -raw results/raw.tsv -memory results/memory.tsv -out results
//
// raw.tsv rows: round, contender, requests/s, p50 µs, p99 µs, errors.
// memory.tsv rows: what, value (see bench/run.sh).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// contender is one proxy setup of the harness.
type contender struct {
	name, label string
}

// The order of the table and chart.
var contenders = []contender{
	{"caddy_round_robin", "Caddy round_robin (reference)"},
	{"caddy_header", "Caddy lb_policy header"},
	{"caddy_scs_header", "Caddy simple_client_session, header"},
	{"caddy_scs_redis", "Caddy simple_client_session, header, store redis"},
	{"caddy_round_robin_soap", "Caddy round_robin, 1 KB SOAP"},
	{"caddy_scs_soap", "Caddy simple_client_session, 1 KB SOAP"},
	{"haproxy_stick", "HAProxy stick-table"},
	{"nginx_hash", "nginx hash consistent"},
}

// targets are the throughput targets, each a ratio within one run.
var targets = []struct {
	name, ref string
	min       float64
}{
	{"caddy_scs_header", "caddy_header", 0.97},
	{"caddy_scs_soap", "caddy_round_robin_soap", 0.97}, // issue 17 (was 0.90)
	{"caddy_scs_redis", "caddy_scs_header", 0.95},      // issue 23 (was 0.717)
}

const reference = "caddy_round_robin"

type sample struct{ rps, p50, p99, errors float64 }

func main() {
	rawPath := flag.String("raw", "bench/results/raw.tsv", "raw measurements")
	memPath := flag.String("memory", "bench/results/memory.tsv", "memory measurements (optional)")
	out := flag.String("out", "bench/results", "output directory")
	flag.Parse()

	rounds, err := readRaw(*rawPath)
	if err != nil {
		log.Fatal(err)
	}
	var md strings.Builder
	writeTable(&md, rounds)
	if mem, err := readTSV(*memPath); err == nil {
		writeMemory(&md, mem)
	} else if !os.IsNotExist(err) {
		log.Fatal(err)
	}
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(md.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "throughput.svg"), []byte(chart(rounds)), 0o644); err != nil {
		log.Fatal(err)
	}
}

// readRaw returns, per round, the samples of each contender.
func readRaw(path string) (map[string]map[string]sample, error) {
	rows, err := readTSV(path)
	if err != nil {
		return nil, err
	}
	rounds := map[string]map[string]sample{}
	for _, r := range rows {
		if len(r) != 6 {
			return nil, fmt.Errorf("%s: want 6 fields, got %q", path, r)
		}
		var s sample
		for i, dst := range []*float64{&s.rps, &s.p50, &s.p99, &s.errors} {
			if *dst, err = strconv.ParseFloat(r[2+i], 64); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", path, r, err)
			}
		}
		if rounds[r[0]] == nil {
			rounds[r[0]] = map[string]sample{}
		}
		rounds[r[0]][r[1]] = s
	}
	if len(rounds) == 0 {
		return nil, fmt.Errorf("%s: no measurements", path)
	}
	return rounds, nil
}

func readTSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows, sc.Err()
}

func requestsPerSecond(s sample) float64 { return s.rps }

// values collects one figure of a contender over the rounds.
func values(rounds map[string]map[string]sample, name string, f func(sample) float64) []float64 {
	var vs []float64
	for _, r := range rounds {
		if s, ok := r[name]; ok {
			vs = append(vs, f(s))
		}
	}
	return vs
}

// ratio is the median over rounds of name's requests/s over ref's in the same
// round: contenders of one round ran under the same machine conditions.
func ratio(rounds map[string]map[string]sample, name, ref string) float64 {
	var vs []float64
	for _, r := range rounds {
		a, okA := r[name]
		b, okB := r[ref]
		if okA && okB && b.rps > 0 {
			vs = append(vs, a.rps/b.rps)
		}
	}
	return median(vs)
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	if n := len(vs); n%2 == 1 {
		return vs[n/2]
	} else {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
}

func writeTable(md *strings.Builder, rounds map[string]map[string]sample) {
	fmt.Fprintf(md, "%d rounds; medians over rounds; ratio = median of the per-round ratios of requests/s.\n\n", len(rounds))
	fmt.Fprintf(md, "| contender | requests/s | p50 | p99 | errors | ratio to Caddy round_robin |\n")
	fmt.Fprintf(md, "| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range contenders {
		rps := values(rounds, c.name, requestsPerSecond)
		if len(rps) == 0 {
			continue
		}
		var errs float64
		for _, e := range values(rounds, c.name, func(s sample) float64 { return s.errors }) {
			errs += e
		}
		toReference := "–" // CONTENDERS left the reference out
		if len(values(rounds, reference, requestsPerSecond)) > 0 {
			toReference = fmt.Sprintf("%.2f", ratio(rounds, c.name, reference))
		}
		fmt.Fprintf(md, "| %s | %.0f | %s | %s | %.0f | %s |\n", c.label, median(rps),
			micros(median(values(rounds, c.name, func(s sample) float64 { return s.p50 }))),
			micros(median(values(rounds, c.name, func(s sample) float64 { return s.p99 }))),
			errs, toReference)
	}
	var rows []string
	for _, t := range targets {
		if len(values(rounds, t.name, requestsPerSecond)) == 0 || len(values(rounds, t.ref, requestsPerSecond)) == 0 {
			continue // CONTENDERS left one of the two out
		}
		r := ratio(rounds, t.name, t.ref)
		met := "yes"
		if r < t.min {
			met = "no"
		}
		rows = append(rows, fmt.Sprintf("| %s / %s ≥ %.2f | %.3f | %s |\n", t.name, t.ref, t.min, r, met))
	}
	if len(rows) > 0 {
		fmt.Fprintf(md, "\n| target | measured | met |\n| --- | ---: | --- |\n%s", strings.Join(rows, ""))
	}
}

func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// writeMemory reports the Caddy process's memory with 0 and 1,000,000 sessions.
func writeMemory(md *strings.Builder, rows [][]string) {
	mem := map[string]float64{}
	for _, r := range rows {
		if len(r) == 2 {
			mem[r[0]], _ = strconv.ParseFloat(r[1], 64)
		}
	}
	n := mem["sessions"]
	if n == 0 {
		return
	}
	perSession := func(before, after string) float64 { return (mem[after] - mem[before]) / n }
	fmt.Fprintf(md, "\nCaddy memory, %.0f sessions bound (target: at most 200 bytes resident per session):\n\n", n)
	fmt.Fprintf(md, "| | 0 sessions | %.0f sessions | per session |\n| --- | ---: | ---: | ---: |\n", n)
	fmt.Fprintf(md, "| resident (VmRSS) | %.1f MiB | %.1f MiB | %.0f B |\n",
		mem["rss_before"]/(1<<20), mem["rss_after"]/(1<<20), perSession("rss_before", "rss_after"))
	fmt.Fprintf(md, "| Go heap in use after GC | %.1f MiB | %.1f MiB | %.0f B |\n",
		mem["heap_before"]/(1<<20), mem["heap_after"]/(1<<20), perSession("heap_before", "heap_after"))
}

// chart draws the median requests/s of each contender as horizontal bars.
func chart(rounds map[string]map[string]sample) string {
	const (
		width, labelW, barW, rowH, top = 820, 300, 420, 30, 40
	)
	type bar struct {
		label    string
		rps, rel float64
	}
	var bars []bar
	var maxRPS float64
	for _, c := range contenders {
		rps := values(rounds, c.name, requestsPerSecond)
		if len(rps) == 0 {
			continue
		}
		b := bar{c.label, median(rps), ratio(rounds, c.name, reference)}
		bars = append(bars, b)
		maxRPS = max(maxRPS, b.rps)
	}
	height := top + rowH*len(bars) + 20
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&sb, `<text x="10" y="22" font-size="15" font-weight="bold">Requests/s over loopback, median of %d rounds (ratio to Caddy round_robin)</text>`+"\n", len(rounds))
	for i, b := range bars {
		y := top + i*rowH
		w := 0.0
		if maxRPS > 0 {
			w = b.rps / maxRPS * barW
		}
		color := "#4a7ab5"
		if strings.HasPrefix(b.label, "Caddy simple_client_session") {
			color = "#d9822b"
		} else if !strings.HasPrefix(b.label, "Caddy") {
			color = "#8c8c8c"
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+16, html.EscapeString(b.label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+3, w, rowH-8, color)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%.0f (%.2f)</text>`+"\n", float64(labelW)+w+6, y+16, b.rps, b.rel)
	}
	sb.WriteString("</svg>\n")
	return sb.String()
}
