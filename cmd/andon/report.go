package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/kaizen"
)

// Files 'andon report' writes into --out-dir.
const (
	kaizenHTML = "kaizen-report.html"
	kaizenJSON = "kaizen-report.json"
)

// registerReport wires 'andon report', the Kaizen review of the ledger.
func registerReport(app *kingpin.Application) {
	var f ledgerFlags
	cmd := app.Command("report", "Kaizen review of a period: andons by failure type and stage, time-to-resolve trend, blocked time per sku, recurrence rate, slowest resolutions with root cause, fix and prevention; HTML with plots, and JSON.")
	f.add(cmd)
	from := cmd.Flag("from", "Start of the period: 2006-01-02 or RFC 3339 (default: 30 days before --to).").String()
	to := cmd.Flag("to", "End of the period, exclusive: 2006-01-02 or RFC 3339 (default: now).").String()
	bucket := cmd.Flag("bucket", "Trend bucket, e.g. 24h (default: a day up to 62 days, else a week).").Duration()
	slowest := cmd.Flag("slowest", "Slowest resolutions listed.").Default("10").Int()
	dir := cmd.Flag("out-dir", "Directory for "+kaizenHTML+" and "+kaizenJSON+".").Default(".").String()
	cmd.Action(func(*kingpin.ParseContext) error {
		now := time.Now().UTC()
		o := kaizen.Options{To: now, Bucket: *bucket, Slowest: *slowest}
		var err error
		if *to != "" {
			if o.To, err = parseDay("--to", *to); err != nil {
				return noAnswer(err)
			}
		}
		o.From = o.To.Add(-30 * 24 * time.Hour)
		if *from != "" {
			if o.From, err = parseDay("--from", *from); err != nil {
				return noAnswer(err)
			}
		}
		if err := o.Validate(); err != nil {
			return noAnswer(err)
		}
		return f.with(false, func(ctx context.Context, api andon.API) error {
			all, err := api.List(ctx, andon.Filter{Limit: 1 << 30})
			if err != nil {
				return refused(err)
			}
			r, err := kaizen.Build(all, o, now)
			if err != nil {
				return noAnswer(err)
			}
			var html, js bytes.Buffer
			if err := kaizen.WriteHTML(&html, r); err != nil {
				return err
			}
			if err := kaizen.WriteJSON(&js, r); err != nil {
				return err
			}
			if err := os.MkdirAll(*dir, 0o755); err != nil {
				return noAnswer(err)
			}
			for name, b := range map[string][]byte{kaizenHTML: html.Bytes(), kaizenJSON: js.Bytes()} {
				if err := os.WriteFile(filepath.Join(*dir, name), b, 0o644); err != nil {
					return noAnswer(err)
				}
			}
			if f.output == andon.FormatJSON {
				_, err := os.Stdout.Write(js.Bytes())
				return err
			}
			fmt.Printf("%d andon(s) opened %s – %s, %d resolved, mean time to resolve %s, recurrence rate %.1f%%\nwrote %s and %s\n",
				r.Opened, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), r.Resolved, time.Duration(r.MTTRSeconds*float64(time.Second)).Round(time.Second),
				100*r.RecurrenceRate, filepath.Join(*dir, kaizenHTML), filepath.Join(*dir, kaizenJSON))
			return nil
		})
	})
}

// parseDay reads a date (midnight UTC) or an RFC 3339 time.
func parseDay(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: give a date (2026-06-01) or an RFC 3339 time (2026-06-01T00:00:00Z)", flag, s)
	}
	return t.UTC(), nil
}
