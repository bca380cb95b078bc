package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/cireport"
)

// ciReportFlags are trigger's --from-* flags: open andons from the reports
// CI already writes instead of building each trigger by hand.
type ciReportFlags struct {
	junit, goTest, sarif, minLevel string
}

func (c *ciReportFlags) add(cmd *kingpin.CmdClause) {
	cmd.Flag("from-junit", "Open one andon from the failures of this JUnit XML report ('-' for stdin): test_failure, stage testing.").PlaceHolder("FILE").StringVar(&c.junit)
	cmd.Flag("from-go-test", "Open andons from this 'go test -json' output ('-' for stdin): test_failure and compilation_failure.").PlaceHolder("FILE").StringVar(&c.goTest)
	cmd.Flag("from-sarif", "Open one andon from the findings of this SARIF log ('-' for stdin): compilation_failure, or shacl_violation for SHACL tools.").PlaceHolder("FILE").StringVar(&c.sarif)
	cmd.Flag("min-level", "With --from-sarif: the lowest result level that stops the line.").Default("warning").EnumVar(&c.minLevel, "error", "warning", "note")
}

// source returns the one report asked for, or "" when none.
func (c *ciReportFlags) source() (cireport.Format, string, error) {
	var format cireport.Format
	var file string
	for _, s := range []struct {
		f    cireport.Format
		file string
	}{{cireport.JUnit, c.junit}, {cireport.GoTest, c.goTest}, {cireport.SARIF, c.sarif}} {
		if s.file == "" {
			continue
		}
		if file != "" {
			return "", "", errors.New("give one of --from-junit, --from-go-test, --from-sarif: run trigger once per report")
		}
		format, file = s.f, s.file
	}
	return format, file, nil
}

// trigger opens the andons a CI report asks for. A report that cannot be
// read exits 2 before the ledger is touched (a CI step must not take "could
// not read the report" for "no failures"); a report without failures opens
// nothing and exits 0.
func (c *ciReportFlags) trigger(f *ledgerFlags, format cireport.Format, file string, base andon.Trigger) error {
	var in io.Reader = os.Stdin
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return noAnswer(fmt.Errorf("--from-%s: %w", format, err))
		}
		defer fh.Close()
		in = fh
	}
	rep, err := cireport.Parse(format, in, cireport.Options{MinLevel: c.minLevel})
	if err != nil {
		return noAnswer(fmt.Errorf("%s: %w", file, err))
	}
	if base.Type != "" {
		if _, err := andon.ParseFailureType(string(base.Type)); err != nil {
			return failure(err)
		}
	}
	trs := cireport.Triggers(rep, cireport.TriggerOptions{SKU: base.SKU, Stage: base.Stage, Type: base.Type, Source: file, Extra: base.Details})
	for i := range trs {
		trs[i].Metadata = base.Metadata
	}
	if len(trs) == 0 {
		return f.print([]andon.Andon{}, func(w io.Writer) {
			fmt.Fprintf(w, "no failures in %s (%s, %d test(s)): no andon opened\n", file, format, rep.Tests)
		})
	}
	return f.with(true, func(ctx context.Context, api andon.API) error {
		opened := make([]andon.Andon, 0, len(trs))
		var created []bool
		for _, t := range trs {
			res, err := api.Trigger(ctx, t)
			if err != nil {
				return refused(err)
			}
			opened = append(opened, res.Andon)
			created = append(created, res.Created)
		}
		return f.print(opened, func(w io.Writer) {
			for i, a := range opened {
				verb := "opened"
				if !created[i] {
					verb = "already open"
				}
				fmt.Fprintf(w, "%s\t%s\t%s at stage %s: %s failure(s): %s\n", a.ID, verb, a.Type, a.Stage,
					andon.DetailText(a.Details["failures"]), andon.Escape(andon.DetailText(a.Details["failed_cases"])))
				failed, _ := trs[i].Details["failed"].([]cireport.Failure)
				for _, fl := range failed {
					fmt.Fprintf(w, "\t- %s\n", andon.Escape(fl.String()))
				}
			}
		})
	})
}
