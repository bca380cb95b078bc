package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/backtest"
	"github.com/andon-sre/andon/rulegen"
)

// registerBacktest wires `andon backtest`: replay a spec's rules over real history.
func registerBacktest(app *kingpin.Application) {
	cmd := app.Command("backtest", "Replay a spec's alerts over real history from Prometheus: firings, firing time, pages per month, receiver actions, no-data; side by side with a baseline. Exit 0 ok, 1 error, 2 over budget or nothing proven.")
	file := cmd.Flag("file", "Operating-limits spec (YAML) whose generated rules are replayed.").Short('f').String()
	rulesFile := cmd.Flag("rules", "A Prometheus rule file to replay instead of a spec.").String()
	prom := cmd.Flag("prometheus", "Prometheus (or compatible) base URL to read history from.").Required().String()
	readAPI := cmd.Flag("read-api", "How raw samples are read: remote-read (/api/v1/read), query (/api/v1/query range selectors, floats only) or auto.").Default(backtest.APIAuto).Enum(backtest.APIAuto, backtest.APIRemoteRead, backtest.APIQuery)
	rng := cmd.Flag("range", "How much history to replay, ending at --to.").Default("30d").String()
	from := cmd.Flag("from", "Start of the replay (RFC 3339 or Unix seconds); overrides --range.").String()
	to := cmd.Flag("to", "End of the replay (RFC 3339 or Unix seconds).").Default("now").String()
	step := cmd.Flag("step", "Evaluate no group more often than this (faster, coarser); 0 keeps each group's interval.").Default("0s").Duration()
	window := cmd.Flag("window", "History evaluated at once: bounds memory.").Default("6h").Duration()
	baseline := cmd.Flag("baseline", "Spec to compare with (e.g. the one running today).").String()
	baselineRules := cmd.Flag("baseline-rules", "Rule file to compare with (andon-generated or not).").String()
	output := cmd.Flag("output", "Report on stdout: table or json.").Short('o').Default("table").Enum("table", "json")
	htmlOut := cmd.Flag("html", "Also write the HTML report (timeline per alert) to this file.").String()
	maxPages := cmd.Flag("max-pages-per-month", "Budget: exit 2 when the replayed rules page more often than this (all severities); negative: no budget.").Default("-1").Float64()
	maxNoData := cmd.Flag("max-no-data", "With a page budget: exit 2 when an alert had no data for more than this share of its evaluations.").Default("0.5").Float64()
	timeout := cmd.Flag("timeout", "Per read request.").Default("5m").Duration()
	scratch := cmd.Flag("scratch-dir", "Directory for the scratch TSDB (default: a temporary one).").String()
	quiet := cmd.Flag("quiet", "No progress on stderr.").Bool()
	cmd.Action(func(*kingpin.ParseContext) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		cand, err := ruleSet(*file, *rulesFile, "-f/--file", "--rules")
		if err != nil {
			return err
		}
		var base *backtest.RuleSet
		if *baseline != "" || *baselineRules != "" {
			if base, err = ruleSet(*baseline, *baselineRules, "--baseline", "--baseline-rules"); err != nil {
				return err
			}
		}
		o := backtest.Options{Step: *step, Window: *window, Dir: *scratch}
		if o.From, o.To, err = timeRange(*from, *to, *rng, time.Now()); err != nil {
			return usage(err)
		}
		src, err := backtest.NewSource(ctx, *prom, *readAPI, *timeout)
		if err != nil {
			return usage(err)
		}
		run := func(rs *backtest.RuleSet) (*backtest.Report, error) {
			if !*quiet {
				started := time.Now()
				o.Progress = func(p backtest.Progress) {
					fmt.Fprintf(os.Stderr, "backtest %s: window %d/%d through %s: %d raw series, %d samples, %s\n", rs.Name, p.Window, p.Windows,
						p.Through.UTC().Format(time.RFC3339), p.Series, p.Samples, time.Since(started).Round(time.Millisecond))
				}
			}
			rep, err := backtest.Run(ctx, src, rs, o)
			if err != nil {
				return nil, failure(fmt.Errorf("backtest %s: %w", rs.Name, err))
			}
			return rep, nil
		}
		rep, err := run(cand)
		if err != nil {
			return err
		}
		var baseRep *backtest.Report
		if base != nil {
			if baseRep, err = run(base); err != nil {
				return err
			}
		}
		switch *output {
		case "json":
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(backtest.JSON(rep, baseRep))
		default:
			err = backtest.WriteTable(os.Stdout, rep, baseRep)
		}
		if err != nil {
			return failure(err)
		}
		if *htmlOut != "" {
			f, err := os.Create(*htmlOut)
			if err != nil {
				return failure(err)
			}
			if err := errors.Join(backtest.WriteHTML(f, rep, baseRep), f.Close()); err != nil {
				return failure(fmt.Errorf("%s: %w", *htmlOut, err))
			}
		}
		b := backtest.Budget{MaxPagesPerMonth: *maxPages, MaxNoData: -1}
		if *maxPages >= 0 {
			b.MaxNoData = *maxNoData
		}
		if why := b.Check(rep); len(why) > 0 {
			return &exitError{code: 2, err: fmt.Errorf("backtest gate: %s", strings.Join(why, "; "))}
		}
		return nil
	})
}

// ruleSet loads the rules of a spec (generated) or of a rule file; exactly one must be given.
func ruleSet(spec, file, specFlag, fileFlag string) (*backtest.RuleSet, error) {
	switch {
	case spec != "" && file != "":
		return nil, usage(fmt.Errorf("give %s or %s, not both", specFlag, fileFlag))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, failure(err)
		}
		rs, err := backtest.ParseRules(file, b)
		if err != nil {
			return nil, failure(err)
		}
		return rs, nil
	case spec != "":
		s, err := loadSpec(spec, false)
		if err != nil {
			return nil, err
		}
		res, err := rulegen.Generate(s)
		if err != nil {
			return nil, failure(fmt.Errorf("%s: %w", spec, err))
		}
		rs, err := backtest.NewRuleSet(spec, res.Groups)
		if err != nil {
			return nil, failure(err)
		}
		return rs, nil
	}
	return nil, usage(fmt.Errorf("give %s or %s", specFlag, fileFlag))
}

// timeRange resolves --from/--to/--range; --to may be "now".
func timeRange(from, to, rng string, now time.Time) (time.Time, time.Time, error) {
	end := now
	if to != "now" {
		t, err := parseTime(to)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--to %q: %w", to, err)
		}
		end = t
	}
	if from != "" {
		start, err := parseTime(from)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--from %q: %w", from, err)
		}
		return start, end, nil
	}
	d, err := model.ParseDuration(rng)
	if err != nil || d <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("--range %q: want a duration such as 30d or 12h", rng)
	}
	return end.Add(-time.Duration(d)), end, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.UnixMilli(int64(f * 1000)).UTC(), nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z) or Unix seconds")
}
