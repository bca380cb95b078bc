package kaizen

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"
)

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("kaizen").Funcs(template.FuncMap{
	"dur":  human,
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"date": func(t time.Time) string { return t.Format("2006-01-02 15:04 MST") },
}).Parse(pageTemplate))

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteHTML writes a self-contained page: summary, tables and plots drawn
// by inline JavaScript on canvases (no network). After drawing, the page
// writes "drawn charts=N bars=B points=P" into #kaizen-status.
func WriteHTML(w io.Writer, r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return page.Execute(w, struct {
		*Report
		Data template.JS
	}{r, template.JS(data)})
}

// human prints seconds as people say them: 3d4h, 2h5m, 40s.
func human(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return d.String()
}
