package harness

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.3f%%\t%s\t%s\t%s\t%s\t%s\t%s\t\n", tier, o.Method, o.Name, o.Count, 100*o.ErrorRatio,
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
