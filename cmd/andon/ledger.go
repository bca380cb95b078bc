package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
)

// ledgerFlags choose the ledger: the SQLite file (--db) or a running
// 'andon webhook' (--url); both offer the same verbs.
type ledgerFlags struct {
	db, url, token, receipts, output string
}

func (f *ledgerFlags) add(cmd *kingpin.CmdClause) {
	cmd.Flag("db", "SQLite ledger file to use directly.").Envar("ANDON_DB").Default("andon.db").StringVar(&f.db)
	cmd.Flag("url", "Use the ledger of a running 'andon webhook' at this URL instead of --db.").Envar("ANDON_URL").StringVar(&f.url)
	cmd.Flag("token", "Bearer token for --url.").Envar("ANDON_TOKEN").StringVar(&f.token)
	cmd.Flag("receipts-dir", "Also write receipts as JSON files here (and verify them) when using --db.").Envar("ANDON_RECEIPTS_DIR").StringVar(&f.receipts)
	cmd.Flag("output", "Output format.").Short('o').Default(andon.FormatText).EnumVar(&f.output, andon.FormatText, andon.FormatJSON)
}

// with runs fn against the chosen ledger. A ledger that cannot be reached
// exits 2, like a usage error, never 1: for 'gate' 1 means blocked.
func (f *ledgerFlags) with(fn func(ctx context.Context, api andon.API) error) error {
	ctx := context.Background()
	if f.url != "" {
		return fn(ctx, &andon.Client{URL: f.url, BearerToken: f.token})
	}
	store, err := andon.OpenSQLite(f.db)
	if err != nil {
		return noAnswer(err)
	}
	defer store.Close()
	return fn(ctx, &andon.Ledger{Store: store, ReceiptsDir: f.receipts, Logger: logger})
}

// read is with for the verbs that only read: a missing --db file is an
// error (a typo must not turn into an empty ledger where every gate proceeds).
func (f *ledgerFlags) read(fn func(ctx context.Context, api andon.API) error) error {
	if f.url == "" {
		if _, err := os.Stat(f.db); err != nil {
			return noAnswer(fmt.Errorf("no ledger at --db %s (%w): pass the file 'andon webhook' or 'andon trigger' writes, or --url", f.db, err))
		}
	}
	return f.with(fn)
}

// refused exits 1 when the ledger answered no (invalid request, unknown id,
// already resolved) and 2 when it could not be reached.
func refused(err error) error {
	if errors.Is(err, andon.ErrUnavailable) {
		return noAnswer(err)
	}
	return failure(err)
}

// noAnswer exits 2: the command could not answer (usage, or no ledger to ask).
func noAnswer(err error) error { return &exitError{code: 2, err: err} }

func (f *ledgerFlags) print(v any, text func(io.Writer)) error {
	return andon.Print(os.Stdout, f.output, v, text)
}

// registerLedger wires the stop-the-line ledger verbs.
func registerLedger(app *kingpin.Application) {
	var f ledgerFlags

	trig := app.Command("trigger", "Open an andon: stop the line for a sku.")
	f.add(trig)
	var t andon.Trigger
	var details []string
	trig.Flag("type", "Failure type: "+andon.FailureTypeNames()+" (with --from-*: overrides the report's).").StringVar((*string)(&t.Type))
	trig.Flag("sku", "Service or build the andon blocks.").Required().StringVar(&t.SKU)
	trig.Flag("stage", "Stage where the failure was found.").StringVar(&t.Stage)
	trig.Flag("detail", "Detail key=value (repeatable).").StringsVar(&details)
	var ci ciReportFlags
	ci.add(trig)
	trig.Action(func(*kingpin.ParseContext) error {
		if format, file, err := ci.source(); err != nil || file != "" {
			if err != nil {
				return noAnswer(err)
			}
			return ci.trigger(&f, format, file, t, details)
		}
		if t.Type == "" {
			return noAnswer(errors.New("required flag --type not provided (or open andons from a CI report with --from-junit, --from-go-test or --from-sarif)"))
		}
		return f.with(func(ctx context.Context, api andon.API) error {
			var err error
			if t.Details, err = andon.ParseDetails(details); err != nil {
				return failure(err)
			}
			res, err := api.Trigger(ctx, t)
			if err != nil {
				return refused(err)
			}
			return f.print(res.Andon, func(w io.Writer) { fmt.Fprintln(w, res.Andon.ID) })
		})
	})

	gate := app.Command("gate", "Can the sku proceed? Exit 0 proceed, 1 blocked (the blocking andons are listed).")
	f.add(gate)
	gateSKU := gate.Flag("sku", "Service or build to check.").Required().String()
	gateStage := gate.Flag("stage", "Stage it wants to enter.").String()
	gate.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			g, err := api.Gate(ctx, *gateSKU, *gateStage)
			if err != nil {
				return noAnswer(err)
			}
			if err := f.print(g, func(w io.Writer) { andon.WriteGate(w, g, time.Now()) }); err != nil {
				return err
			}
			if !g.Proceed {
				return failure(fmt.Errorf("%s is blocked by %d open andon(s)", g.SKU, len(g.Blocking)))
			}
			return nil
		})
	})

	res := app.Command("resolve", "Resolve an andon; root cause, fix and prevention are required. Of racing resolvers exactly one wins.")
	f.add(res)
	resID := res.Arg("id", "Andon id.").Required().String()
	var r andon.Resolution
	res.Flag("root-cause", "Why it happened.").Required().StringVar(&r.RootCause)
	res.Flag("fix", "What fixed it.").Required().StringVar(&r.FixApplied)
	res.Flag("prevention", "What keeps it from happening again.").Required().StringVar(&r.PreventionAdded)
	res.Flag("resolver", "Who resolves it (default: the user running andon).").Default(currentUser()).StringVar(&r.Resolver)
	res.Action(func(*kingpin.ParseContext) error {
		return f.with(func(ctx context.Context, api andon.API) error {
			a, err := api.Resolve(ctx, *resID, r)
			if err != nil {
				return refused(err)
			}
			return f.print(a, func(w io.Writer) {
				fmt.Fprintf(w, "%s resolved after %s\n", a.ID, a.TimeToResolve(time.Now()).Round(time.Second))
			})
		})
	})

	list := app.Command("list", "List andons, newest first.")
	f.add(list)
	var lf andon.Filter
	list.Flag("sku", "Only this sku.").StringVar(&lf.SKU)
	list.Flag("status", "open or resolved.").EnumVar((*string)(&lf.Status), "", "open", "resolved")
	list.Flag("type", "Only this failure type.").StringVar((*string)(&lf.Type))
	list.Flag("limit", "At most this many.").Default("100").IntVar(&lf.Limit)
	list.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			l, err := api.List(ctx, lf)
			if err != nil {
				return refused(err)
			}
			return f.print(l, func(w io.Writer) { andon.WriteList(w, l, time.Now()) })
		})
	})

	show := app.Command("show", "Show an andon with its receipts.")
	f.add(show)
	showID := show.Arg("id", "Andon id.").Required().String()
	show.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			a, rs, err := api.Show(ctx, *showID)
			if err != nil {
				return refused(err)
			}
			return f.print(map[string]any{"andon": a, "receipts": rs}, func(w io.Writer) { andon.WriteShow(w, a, rs, time.Now()) })
		})
	})

	hist := app.Command("history", "A sku's andons, open and resolved, with time to resolve and its mean.")
	f.add(hist)
	histSKU := hist.Flag("sku", "Service or build.").Required().String()
	histLimit := hist.Flag("limit", "At most this many.").Default("1000").Int()
	hist.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			l, err := api.List(ctx, andon.Filter{SKU: *histSKU, Limit: *histLimit})
			if err != nil {
				return refused(err)
			}
			return f.print(l, func(w io.Writer) { andon.WriteHistory(w, l, time.Now()) })
		})
	})

	rcpt := app.Command("receipts", "Work with the receipt chain.")
	verify := rcpt.Command("verify", "Check the receipt chain (and the receipt files with --receipts-dir): exit 0 intact, 1 changed or missing receipts.")
	f.add(verify)
	verify.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			probs, err := api.Verify(ctx)
			if err != nil {
				return noAnswer(err)
			}
			if err := f.print(probs, func(w io.Writer) { andon.WriteProblems(w, probs) }); err != nil {
				return err
			}
			if len(probs) > 0 {
				return failure(fmt.Errorf("receipt chain broken: %d problem(s)", len(probs)))
			}
			return nil
		})
	})

	acts := app.Command("actions", "The actuator's decisions: applied, dry-run, skipped and failed, with reasons.")
	f.add(acts)
	var af andon.ActionFilter
	acts.Flag("service", "Only this service.").StringVar(&af.Service)
	acts.Flag("result", "applied, dry_run, skipped or failed.").EnumVar(&af.Result, "", "applied", "dry_run", "skipped", "failed")
	acts.Flag("limit", "At most this many.").Default("100").IntVar(&af.Limit)
	acts.Action(func(*kingpin.ParseContext) error {
		return f.read(func(ctx context.Context, api andon.API) error {
			recs, err := api.Actions(ctx, af)
			if err != nil {
				return refused(err)
			}
			return f.print(recs, func(w io.Writer) { andon.WriteActions(w, recs) })
		})
	})
}

// currentUser names who runs the command, for --resolver: $USER is often unset in CI and
// containers, where the account name still is known.
func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
