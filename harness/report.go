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
	fmt.Fprintf(w, "profile %s against %s (%s, protocol %s), %.1fs\n",
		res.Profile.Name, res.Target, res.Transport, res.Era, res.Seconds)
	fmt.Fprintf(w, "requests: intended %d, sent %d, completed %d, errors %d, dropped %d, late %d; achieved %.1f/s\n",
		res.Intended, res.Sent, res.Completed, res.Errors, res.Dropped, res.Late, res.AchievedRPS)
	fmt.Fprintf(w, "sessions: opened %d, failed %d, closed %d, close failures %d, peak %d\n",
		res.Sessions.Opened, res.Sessions.Failed, res.Sessions.Closed, res.Sessions.CloseFailed, res.Sessions.Peak)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tier\tmethod\tname\tcount\terrors\tp50\tp90\tp99\tp99.9\tmax\tp99 uncorrected\t")
	row := func(o OpResult) {
		tier := "-"
		if o.Tier > 0 {
			tier = fmt.Sprint(o.Tier)
		}
		name := o.Name
		if o.Handshake {
			name = "(session set-up)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.3f%%\t%s\t%s\t%s\t%s\t%s\t%s\t\n", tier, o.Method, name, o.Count, 100*o.ErrorRatio,
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
	return nil
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
	"secs": fmtSeconds,
	"pct":  func(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) },
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
)

// WriteRun writes the result, the HTML report and the recording into dir.
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
