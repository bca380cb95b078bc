package harness

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary prints the end-of-run table: per request class, count, error
// ratio and CO-corrected latency quantiles, with the uncorrected p99 beside.
func WriteSummary(w io.Writer, res *Result) error {
	state := fmt.Sprintf("%.1fs", res.Seconds)
	if res.Interrupted {
		state = fmt.Sprintf("INTERRUPTED after %.1fs of %s", res.Seconds, res.Profile.Duration)
	}
	fmt.Fprintf(w, "profile %s against %s (%s, protocol %s), %s\n", res.Profile.Name, res.Target, res.Transport, res.Era, state)
	fmt.Fprintf(w, "schedule: %s\n", res.Profile.Describe())
	fmt.Fprintf(w, "requests: intended %d = sent %d + dropped %d%s; completed %d, errors %d, late %d; achieved %.1f/s\n",
		res.Intended, res.Sent, res.Dropped, dropReasons(res), res.Completed, res.Errors, res.Late, res.AchievedRPS)
	if cut := res.Sent - min(res.Completed, res.Sent); cut > 0 {
		fmt.Fprintf(w, "  %d sent requests were in flight when the interrupt cut them (no answer recorded)\n", cut)
	}
	fmt.Fprintf(w, "sessions: opened %d, failed %d, closed %d, close failures %d, peak %d\n",
		res.Sessions.Opened, res.Sessions.Failed, res.Sessions.Closed, res.Sessions.CloseFailed, res.Sessions.Peak)
	fmt.Fprintf(w, "connections: harness opened %d, peak %d open%s\n", res.Connections.Opened, res.Connections.Peak, serverConns(res))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tmethod\tname\tcount\terrors\tdropped\tp50\tp90\tp99\tp99.9\tmax\tp99 uncorrected\t")
	row := func(o OpResult) {
		tier := "-"
		if o.Tier > 0 {
			tier = fmt.Sprint(o.Tier)
		}
		name := o.Name
		if o.Handshake && name == "" {
			name = "(session set-up)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.3f%%\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", tier, o.Method, name, o.Count, 100*o.ErrorRatio, o.Dropped,
			fmtSeconds(o.Latency.P50), fmtSeconds(o.Latency.P90), fmtSeconds(o.Latency.P99), fmtSeconds(o.Latency.P999),
			fmtSeconds(o.Latency.Max), fmtSeconds(o.Uncorrected.P99))
	}
	for _, o := range res.Operations {
		row(o)
	}
	row(res.Overall)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Overall.Classes) > 0 {
		classes := make([]string, 0, len(res.Overall.Classes))
		for c := range res.Overall.Classes {
			classes = append(classes, c)
		}
		sort.Strings(classes)
		fmt.Fprintln(w, "errors by class:")
		for _, c := range classes {
			fmt.Fprintf(w, "  %-16s %8d  e.g. %s\n", c, res.Overall.Classes[c], res.ErrorSamples[c])
		}
	}
	if len(res.Stages) > 0 {
		fmt.Fprintln(w, "stages (by intended start; latency CO-corrected, dropped requests included):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "stage\tfrom\tto\tintended\tcompleted\terrors\tdropped\tp50\tp95\tp99\t")
		for _, s := range res.Stages {
			fmt.Fprintf(tw, "%s\t%.1fs\t%.1fs\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", s.Name, s.Start, s.End, s.Intended, s.Completed, s.Errors, s.Dropped,
				fmtSeconds(s.Latency.P50), fmtSeconds(s.Latency.P95), fmtSeconds(s.Latency.P99))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return WriteVerdict(w, res.Verdict)
}

// dropReasons is " (reason n, …)" in DropReasons order, "" when none.
func dropReasons(res *Result) string {
	var parts []string
	for _, r := range DropReasons {
		if n := res.DroppedBy[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// serverConns is what the target's own metric said, when it was scraped.
func serverConns(res *Result) string {
	if res.Connections.ServerPeak == nil {
		return ""
	}
	return fmt.Sprintf("; the server saw a peak of %.0f (%s)", *res.Connections.ServerPeak, res.Connections.ServerMetric)
}

// WriteJSON stores the result (without the recording, which has its own file).
func WriteJSON(path string, res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs":  fmtSeconds,
	"pct":   func(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) },
	"drops": dropReasons,
	"conns": serverConns,
}).Parse(reportTemplate))

// WriteHTML writes a self-contained report: the summary table and plots over
// time drawn by inline JavaScript on canvases (no network needed). After
// drawing, the page writes "drawn charts=N points=M" into #andon-report-status.
func WriteHTML(w io.Writer, res *Result) error {
	data, err := json.Marshal(struct {
		Timeline   []Point     `json:"timeline"`
		Thresholds []Threshold `json:"thresholds"`
	}{res.Timeline, res.Thresholds})
	if err != nil {
		return err
	}
	return reportTmpl.Execute(w, struct {
		*Result
		Data  template.JS
		Title string
	}{res, template.JS(data), strings.TrimSpace(res.Profile.Name + " — andon load")})
}

// Output file names inside a run directory.
const (
	ResultFile    = "result.json"
	ReportFile    = "report.html"
	RecordingFile = "recording.json"
	JUnitFile     = "junit.xml" // written when the run has thresholds
)

// WriteRun writes the result, the HTML report, the recording and (with
// thresholds) the JUnit verdict into dir.
func WriteRun(dir string, res *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(dir, ResultFile), filepath.Join(dir, ReportFile), filepath.Join(dir, RecordingFile)}
	if err := WriteJSON(paths[0], res); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := WriteHTML(&html, res); err != nil {
		return nil, err
	}
	if err := os.WriteFile(paths[1], html.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := res.Recording.Write(paths[2]); err != nil {
		return nil, err
	}
	if res.Verdict != nil {
		junit := filepath.Join(dir, JUnitFile)
		if err := WriteJUnit(junit, res); err != nil {
			return nil, err
		}
		paths = append(paths, junit)
	}
	return paths, nil
}

// ParseThreshold reads "metric=value[:label]", e.g. "latency_p99=280ms:red",
// "error_ratio=0.005:red", "rate=5000:limit". Latencies take Go durations
// or seconds.
func ParseThreshold(s string) (Threshold, error) {
	metric, rest, ok := strings.Cut(s, "=")
	if !ok {
		return Threshold{}, fmt.Errorf("threshold %q: want metric=value[:label], e.g. latency_p99=280ms:red", s)
	}
	value, label, _ := strings.Cut(rest, ":")
	th := Threshold{Metric: metric, Label: label}
	switch metric {
	case "latency_p50", "latency_p95", "latency_p99":
		if d, err := time.ParseDuration(value); err == nil {
			th.Value = d.Seconds()
			return th, nil
		}
	case "error_ratio", "rate", "sessions":
	default:
		return th, fmt.Errorf("threshold %q: metric %q is not latency_p50, latency_p95, latency_p99, error_ratio, rate or sessions", s, metric)
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || v < 0 {
		return th, fmt.Errorf("threshold %q: value %q is not a non-negative number", s, value)
	}
	th.Value = v
	return th, nil
}
