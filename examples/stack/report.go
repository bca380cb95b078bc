package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/andon-sre/andon/harness"
)

// chart is one SVG plot: a line over the run's seconds with the loop's events drawn across it.
type chart struct {
	Title  string
	Unit   string
	Path   string
	Limit  float64 // a horizontal threshold line, in Y units (NaN: none)
	LimitY float64
	Max    float64
	Events []chartEvent
}

type chartEvent struct {
	X     float64
	Label string
	Y     float64 // label position, staggered so labels do not overlap
}

const chartW, chartH = 900.0, 220.0

// WriteReport writes a self-contained HTML page: client p95 (with the red limit, in seconds) and
// error share per second, with the alert and action timeline drawn over both, and the events as a table.
func WriteReport(w io.Writer, res *harness.Result, events []Event, redP95 float64) error {
	var p95, errShare []float64
	for _, p := range res.Timeline {
		p95 = append(p95, p.P95*1000)
		e := 0.0
		if p.Completed > 0 {
			e = 100 * p.Errors / p.Completed
		}
		errShare = append(errShare, e)
	}
	dur := res.Seconds
	if dur <= 0 {
		dur = 1
	}
	charts := []chart{
		plot("Client p95 latency (coordinated-omission corrected)", "ms", res.Timeline, p95, redP95*1000, dur, res.Start, events),
		plot("Client error share (shed and refused requests)", "%", res.Timeline, errShare, nan, dur, res.Start, events),
	}
	type row struct {
		T      string
		Name   string
		Detail string
	}
	var rows []row
	for _, e := range events {
		rows = append(rows, row{fmt.Sprintf("%.1fs", e.At.Sub(res.Start).Seconds()), e.Name, e.Detail})
	}
	var ops strings.Builder
	_ = harness.WriteSummary(&ops, res)
	return reportTmpl.Execute(w, map[string]any{"Charts": charts, "Rows": rows, "Summary": ops.String(), "W": chartW, "H": chartH})
}

// writeReport writes the report to path.
func writeReport(path string, res *harness.Result, events []Event, redP95 float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteReport(f, res, events, redP95); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func plot(title, unit string, tl []harness.Point, ys []float64, limit, dur float64, start time.Time, events []Event) chart {
	maxY := 1.0
	for _, y := range ys {
		if !math.IsNaN(y) && y > maxY {
			maxY = y
		}
	}
	if !math.IsNaN(limit) && limit*1.2 > maxY {
		maxY = limit * 1.2
	}
	sx := func(t float64) float64 { return chartW * t / dur }
	sy := func(y float64) float64 { return chartH - chartH*y/maxY }
	var b strings.Builder
	for i, p := range tl {
		y := ys[i]
		if math.IsNaN(y) {
			continue
		}
		cmd := "L"
		if b.Len() == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f,%.1f ", cmd, sx(p.T), sy(y))
	}
	c := chart{Title: title, Unit: unit, Path: b.String(), Limit: limit, Max: maxY}
	if !math.IsNaN(limit) {
		c.LimitY = sy(limit)
	}
	for i, e := range events {
		c.Events = append(c.Events, chartEvent{X: sx(e.At.Sub(start).Seconds()), Label: e.Name, Y: 12 + float64(i%6)*14})
	}
	return c
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"isnum": func(f float64) bool { return !math.IsNaN(f) },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>andon closed loop</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1000px}svg{background:#fafafa;border:1px solid #ddd}
.ev{stroke:#c33;stroke-dasharray:3 3}.lim{stroke:#e80;stroke-dasharray:6 3}text{font-size:11px}
table{border-collapse:collapse}td{padding:2px 8px;border-bottom:1px solid #eee}pre{background:#f4f4f4;padding:1em}</style></head>
<body><h1>andon: the closed loop</h1>
<p>Overload against a capacity-limited MCP server; Prometheus detects it, Alertmanager notifies the andon
webhook, which sheds low tiers through the admission API and opens an andon. Red dashed lines are the loop's events.</p>
{{range .Charts}}<h2>{{.Title}}</h2>
<svg width="{{$.W}}" height="{{$.H}}" viewBox="0 0 {{$.W}} {{$.H}}" role="img" aria-label="{{.Title}}">
<path d="{{.Path}}" fill="none" stroke="#36c" stroke-width="1.5"/>
{{if isnum .Limit}}<line class="lim" x1="0" x2="{{$.W}}" y1="{{.LimitY}}" y2="{{.LimitY}}"/><text x="4" y="{{.LimitY}}" dy="-3" fill="#e80">red {{.Limit}}{{.Unit}}</text>{{end}}
{{range .Events}}<line class="ev" x1="{{.X}}" x2="{{.X}}" y1="0" y2="{{$.H}}"/><text x="{{.X}}" y="{{.Y}}" dx="3" fill="#c33">{{.Label}}</text>{{end}}
<text x="{{$.W}}" y="12" text-anchor="end">max {{printf "%.0f" .Max}}{{.Unit}}</text>
</svg>{{end}}
<h2>Timeline</h2><table>{{range .Rows}}<tr><td>{{.T}}</td><td>{{.Name}}</td><td>{{.Detail}}</td></tr>{{end}}</table>
<h2>Harness summary</h2><pre>{{.Summary}}</pre>
</body></html>
`))
