package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"

	"github.com/andon-sre/andon/harness"
)

// chart is one SVG plot: lines over the run's seconds with the loop's events drawn across them.
type chart struct {
	Title  string
	Unit   string
	Lines  []line
	Limit  float64 // a horizontal threshold line, in Y units (NaN: none)
	LimitY float64
	Max    float64
	Events []chartEvent
}

type line struct {
	Label, Color, Path string
}

type series struct {
	label, color string
	ys           []float64 // one per timeline point; NaN: no data
}

type chartEvent struct {
	X      float64
	Label  string
	Y      float64 // label row, chosen so labels do not overlap
	Anchor string  // start, or end near the right edge
	DX     float64
}

const chartW, chartH = 900.0, 220.0

// WriteReport writes a self-contained HTML page: client p95 (with the red limit), error share and
// request rates per second, with the alert and action timeline drawn over each, and the events as a table.
func WriteReport(w io.Writer, res *harness.Result, events []Event, redP95 float64) error {
	var p95, errShare, intended, sent, ok, failed []float64
	for _, p := range res.Timeline {
		p95 = append(p95, p.P95*1000)
		e := nan
		if p.Completed > 0 {
			e = 100 * p.Errors / p.Completed
		}
		errShare = append(errShare, e)
		intended, sent = append(intended, p.Intended), append(sent, p.Sent)
		ok, failed = append(ok, p.Completed-p.Errors), append(failed, p.Errors)
	}
	dur := max(res.Seconds, 1)
	charts := []chart{
		plot("Client p95 latency (coordinated-omission corrected)", "ms", res, []series{{"p95", "#36c", p95}}, redP95*1000, dur, events),
		plot("Client error share (shed and refused requests)", "%", res, []series{{"errors", "#c33", errShare}}, nan, dur, events),
		plot("Requests per second", "/s", res, []series{{"intended", "#999", intended}, {"sent", "#36c", sent},
			{"succeeded", "#393", ok}, {"failed", "#c33", failed}}, nan, dur, events),
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

func plot(title, unit string, res *harness.Result, ss []series, limit, dur float64, events []Event) chart {
	maxY := 1.0
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) && y > maxY {
				maxY = y
			}
		}
	}
	if !math.IsNaN(limit) && limit*1.2 > maxY {
		maxY = limit * 1.2
	}
	sx := func(t float64) float64 { return chartW * t / dur }
	sy := func(y float64) float64 { return chartH - chartH*y/maxY }
	c := chart{Title: title, Unit: unit, Limit: limit, Max: maxY}
	for _, s := range ss {
		var b strings.Builder
		for i, p := range res.Timeline {
			if math.IsNaN(s.ys[i]) {
				continue
			}
			cmd := "L"
			if b.Len() == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&b, "%s%.1f,%.1f ", cmd, sx(p.T), sy(s.ys[i]))
		}
		c.Lines = append(c.Lines, line{Label: s.label, Color: s.color, Path: b.String()})
	}
	if !math.IsNaN(limit) {
		c.LimitY = sy(limit)
	}
	// Labels go on the first row where they do not run into the previous label (≈6px a character).
	var rowEnd []float64
	for _, e := range events {
		// Other alerts are in the table; the charts show the loop. The warm-up precedes the
		// measured run (its events are in the table, at negative times).
		if e.Name == EvAlert || e.At.Before(res.Start) {
			continue
		}
		x := sx(e.At.Sub(res.Start).Seconds())
		ev := chartEvent{X: x, Label: e.Name, Anchor: "start", DX: 3}
		w := 6*float64(len([]rune(e.Name))) + 6
		from := x
		if x+w > chartW { // near the right edge the label goes to the left of its line
			ev.Anchor, ev.DX, from = "end", -3, x-w
		}
		row := 0
		for row < len(rowEnd) && rowEnd[row] > from {
			row++
		}
		if row == len(rowEnd) {
			rowEnd = append(rowEnd, 0)
		}
		rowEnd[row] = from + w
		ev.Y = 12 + float64(row)*14
		c.Events = append(c.Events, ev)
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
<p>{{range .Lines}}<span style="color:{{.Color}}">&#9632; {{.Label}}</span> {{end}}&nbsp; (scale 0–{{printf "%.0f" .Max}}{{.Unit}})</p>
<svg width="{{$.W}}" height="{{$.H}}" viewBox="0 0 {{$.W}} {{$.H}}" role="img" aria-label="{{.Title}}">
{{range .Lines}}<path d="{{.Path}}" fill="none" stroke="{{.Color}}" stroke-width="1.5"><title>{{.Label}}</title></path>
{{end}}{{if isnum .Limit}}<line class="lim" x1="0" x2="{{$.W}}" y1="{{.LimitY}}" y2="{{.LimitY}}"/><text x="4" y="{{.LimitY}}" dy="-3" fill="#e80">red {{.Limit}}{{.Unit}}</text>{{end}}
{{range .Events}}<line class="ev" x1="{{.X}}" x2="{{.X}}" y1="0" y2="{{$.H}}"/><text class="evl" x="{{.X}}" y="{{.Y}}" dx="{{.DX}}" text-anchor="{{.Anchor}}" fill="#c33">{{.Label}}</text>{{end}}
</svg>{{end}}
<h2>Timeline</h2><table>{{range .Rows}}<tr><td>{{.T}}</td><td>{{.Name}}</td><td>{{.Detail}}</td></tr>{{end}}</table>
<h2>Harness summary</h2><pre>{{.Summary}}</pre>
<pre id="stack-report-status">not measured (JavaScript disabled?)</pre>
<script>
// What the browser drew, for the report test: lines with length, event markers inside their
// chart, and event labels overlapping one another.
let charts = 0, lines = 0, events = 0, outside = 0, overlaps = 0;
for (const svg of document.querySelectorAll("svg")) {
  charts++;
  const box = svg.getBoundingClientRect();
  for (const p of svg.querySelectorAll("path")) if (p.getTotalLength() > 0) lines++;
  for (const l of svg.querySelectorAll("line.ev")) {
    const b = l.getBoundingClientRect();
    events++;
    if (b.left < box.left || b.right > box.right + 1) outside++;
  }
  const labels = [...svg.querySelectorAll("text.evl")].map(t => t.getBoundingClientRect());
  labels.forEach((a, i) => labels.slice(i + 1).forEach(b => {
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
  }));
}
document.getElementById("stack-report-status").textContent =
  "drawn charts=" + charts + " lines=" + lines + " events=" + events + " outside=" + outside + " overlaps=" + overlaps;
</script>
</body></html>
`))
