package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/stores"
)

// ledgerFlags choose the ledger: the SQLite file (--db) or a running
// 'andon webhook' (--url); both offer the same verbs.
type ledgerFlags struct {
	db, url, token, receipts, output, signingKey string
	publicKeys                                   []string
	stages                                       stageFlags
}

func (f *ledgerFlags) add(cmd *kingpin.CmdClause) {
	cmd.Flag("db", "Ledger to use directly: a SQLite file or a postgres:// URL (made by 'andon init'; the ledger replicas of 'andon webhook' share).").Envar("ANDON_DB").Default("andon.db").StringVar(&f.db)
	cmd.Flag("url", "Use the ledger of a running 'andon webhook' at this URL instead of --db.").Envar("ANDON_URL").StringVar(&f.url)
	cmd.Flag("token", "Bearer token for --url.").Envar("ANDON_TOKEN").StringVar(&f.token)
	cmd.Flag("receipts-dir", "Also write receipts as JSON files here (and verify them) when using --db.").Envar("ANDON_RECEIPTS_DIR").StringVar(&f.receipts)
	cmd.Flag("output", "Output format.").Short('o').Default(andon.FormatText).EnumVar(&f.output, andon.FormatText, andon.FormatJSON)
	f.stages.add(cmd)
}

// addSigning adds --signing-key to the verbs that write receipts.
func (f *ledgerFlags) addSigning(cmd *kingpin.CmdClause) {
	cmd.Flag("signing-key", "Private key (from 'andon keygen') to sign the receipts with, when using --db; required once the ledger's receipts are signed.").Envar("ANDON_SIGNING_KEY").StringVar(&f.signingKey)
}

// with runs fn against the chosen ledger. A ledger that cannot be reached,
// or a file that is not an andon ledger, exits 2, like a usage error, never
// 1: for 'gate' 1 means blocked. write binds --receipts-dir to the ledger
// before receipts are written into it.
func (f *ledgerFlags) with(write bool, fn func(ctx context.Context, api andon.API) error) error {
	ctx := context.Background()
	if f.url != "" {
		return fn(ctx, &andon.Client{URL: f.url, BearerToken: f.token})
	}
	store, err := stores.Open(ctx, f.db, false)
	if err != nil {
		return noAnswer(err)
	}
	defer store.Close()
	if f.signingKey != "" {
		sg, err := andon.LoadSigner(f.signingKey)
		if err != nil {
			return noAnswer(err)
		}
		store.SetSigner(sg)
	}
	l := &andon.Ledger{Store: store, ReceiptsDir: f.receipts, Logger: logger}
	if l.Stages, err = f.stages.policy(); err != nil {
		return noAnswer(err)
	}
	store.SetOntologyBase(f.stages.ontologyBase)
	if len(f.publicKeys) > 0 {
		if l.Keys, err = andon.LoadKeyring(f.publicKeys); err != nil {
			return noAnswer(err)
		}
	}
	if write && f.receipts != "" {
		if err := andon.BindReceiptsDir(f.receipts, store.Identity().ID); err != nil {
			return noAnswer(err)
		}
	}
	return fn(ctx, l)
}

// refused exits 1 when the ledger answered no (invalid request, unknown id,
// already resolved) and 2 when it could not answer: unreachable, not a
// ledger, or its state does not match its receipt chain.
func refused(err error) error {
	if errors.Is(err, andon.ErrUnavailable) || errors.Is(err, andon.ErrNotLedger) || errors.Is(err, andon.ErrTampered) {
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

	ini := app.Command("init", "Create a new, empty ledger (a file that must not exist, or an empty PostgreSQL database) with its own identity; every other verb refuses what is not a ledger.")
	iniDB := ini.Flag("db", "SQLite ledger file, or postgres:// URL of an empty database, to create the ledger in.").Envar("ANDON_DB").Default("andon.db").String()
	ini.Action(func(*kingpin.ParseContext) error {
		id, err := stores.Init(context.Background(), *iniDB, time.Now())
		if err != nil {
			return noAnswer(err)
		}
		fmt.Printf("created ledger %s at %s\n", id.ID, stores.Describe(*iniDB))
		return nil
	})

	kg := app.Command("keygen", "Create an ed25519 key to sign receipts with: FILE (private, mode 0600) and FILE.pub (for 'receipts verify --public-key').")
	kgFile := kg.Arg("file", "Private key file to create (never overwritten).").Required().String()
	kg.Action(func(*kingpin.ParseContext) error {
		id, err := andon.GenerateKey(*kgFile)
		if err != nil {
			return noAnswer(err)
		}
		fmt.Printf("key %s: private %s, public %s.pub\n", id, *kgFile, *kgFile)
		return nil
	})

	trig := app.Command("trigger", "Open an andon: stop the line for a sku.")
	f.add(trig)
	f.addSigning(trig)
	var t andon.Trigger
	var tctx contextFlags
	trig.Flag("type", "Failure type: "+andon.FailureTypeNames()+" (with --from-*: overrides the report's).").StringVar((*string)(&t.Type))
	trig.Flag("sku", "Service or build the andon blocks.").Required().StringVar(&t.SKU)
	trig.Flag("stage", "Stage where the failure was found: one of --stages (default "+andon.StagePolicy{}.Names()+").").StringVar(&t.Stage)
	tctx.add(trig)
	var ci ciReportFlags
	ci.add(trig)
	trig.Action(func(*kingpin.ParseContext) error {
		if err := tctx.apply(&t); err != nil {
			return failure(err)
		}
		if format, file, err := ci.source(); err != nil || file != "" {
			if err != nil {
				return noAnswer(err)
			}
			return ci.trigger(&f, format, file, t)
		}
		if t.Type == "" {
			return noAnswer(errors.New("required flag --type not provided (or open andons from a CI report with --from-junit, --from-go-test or --from-sarif)"))
		}
		return f.with(true, func(ctx context.Context, api andon.API) error {
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
	gateStage := gate.Flag("stage", "Stage it wants to enter: an open andon blocks its own stage and every later one (all stages with --block-all-stages; without --stage any open andon blocks).").String()
	gate.Action(func(*kingpin.ParseContext) error {
		return f.with(false, func(ctx context.Context, api andon.API) error {
			g, err := api.Gate(ctx, *gateSKU, *gateStage)
			if err != nil {
				return noAnswer(err) // fail closed: whatever the reason, no answer is never "proceed"
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
	f.addSigning(res)
	resID := res.Arg("id", "Andon id.").Required().String()
	var r andon.Resolution
	res.Flag("root-cause", "Why it happened.").Required().StringVar(&r.RootCause)
	res.Flag("fix", "What fixed it.").Required().StringVar(&r.FixApplied)
	res.Flag("prevention", "What keeps it from happening again.").Required().StringVar(&r.PreventionAdded)
	res.Flag("resolver", "Who resolves it (default: the user running andon).").Default(currentUser()).StringVar(&r.Resolver)
	res.Action(func(*kingpin.ParseContext) error {
		return f.with(true, func(ctx context.Context, api andon.API) error {
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
		return f.with(false, func(ctx context.Context, api andon.API) error {
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
		return f.with(false, func(ctx context.Context, api andon.API) error {
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
		return f.with(false, func(ctx context.Context, api andon.API) error {
			l, err := api.List(ctx, andon.Filter{SKU: *histSKU, Limit: *histLimit})
			if err != nil {
				return refused(err)
			}
			return f.print(l, func(w io.Writer) { andon.WriteHistory(w, l, time.Now()) })
		})
	})

	rcpt := app.Command("receipts", "Work with the receipt chain.")
	verify := rcpt.Command("verify", "Check the receipt chain against the andons table (and the receipt files with --receipts-dir, the signatures with --public-key): exit 0 intact, 1 changed or missing receipts.")
	f.add(verify)
	verify.Flag("public-key", "Public key file ('andon keygen' FILE.pub): every receipt must carry a valid signature by one of these keys (repeat for rotated keys). Needs --db: the check must not trust the server.").StringsVar(&f.publicKeys)
	verify.Action(func(*kingpin.ParseContext) error {
		if len(f.publicKeys) > 0 && f.url != "" {
			return noAnswer(errors.New("--public-key needs --db: verify the signatures on the ledger file, not on a server's word"))
		}
		return f.with(false, func(ctx context.Context, api andon.API) error {
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
	acts.Flag("result", strings.Join(andon.ActionResults, ", ")+".").EnumVar(&af.Result, append([]string{""}, andon.ActionResults...)...)
	acts.Flag("limit", "At most this many.").Default("100").IntVar(&af.Limit)
	acts.Action(func(*kingpin.ParseContext) error {
		return f.with(false, func(ctx context.Context, api andon.API) error {
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
