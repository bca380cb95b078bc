package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/andon-sre/andon/harness"
)

func main() {
	repo := flag.String("repo", ".", "Repository root (the demo builds ./examples/mcpserver and reads examples/stack/limits.yaml).")
	dir := flag.String("dir", ".cache/stack-demo", "Work directory: configs, TSDB, ledger, logs, report.html (emptied first).")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *repo, *dir); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; every process it started was stopped")
		}
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

// demo runs the loop once and prints its timeline. Every process is stopped on return,
// including on Ctrl-C (ctx) and on failure.
func demo(ctx context.Context, repo, dir string) error {
	repo, _ = filepath.Abs(repo)
	dir, _ = filepath.Abs(dir)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cfg := DefaultConfig(repo, dir)
	fmt.Printf(">> starting the stack in %s (MCP server at %g msg/s, queue %d)\n", dir, cfg.Capacity, cfg.QueueCap)
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Printf("   mcpserver %s  prometheus %s  alertmanager %s  webhook %s  harness metrics http://%s\n",
		s.Server, s.Prom, s.AM, s.Webhook, s.Harness)
	sc := DefaultScenario
	fmt.Printf(">> load: warm-up until steady (at most %s) and %s baseline at %g msg/s, %s at %g msg/s, %s at %g msg/s (20%% tier 1, 40%% tier 2, 40%% tier 3)\n",
		sc.MaxWarmup, sc.Baseline, sc.BaselineRPS, sc.Overload, sc.OverloadRPS, sc.Recovery, sc.BaselineRPS)
	start := time.Now()
	w := NewWatcher(s, os.Stdout, start)
	wctx, wcancel := context.WithCancel(ctx)
	go w.Run(wctx, 250*time.Millisecond)
	res, err := s.RunLoad(ctx, sc, w, Hooks{})
	wcancel()
	if err != nil || ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	fmt.Println()
	if err := harness.WriteSummary(os.Stdout, res); err != nil {
		return err
	}
	last := s.Snapshot(ctx)
	fmt.Printf("\nshed by tier over the run: %s\n", tiers(last.ShedByTier))
	onset, _ := w.First(EvOnset)
	end := onset.At.Add(sc.Overload)
	if f, err := s.ClientFigures(ctx, onset.At, end); err == nil {
		fmt.Printf("clients during the overload (%s): %s\n", sc.Overload, f)
	}
	if applied, ok := w.First(EvApplied); ok {
		if f, err := s.ClientFigures(ctx, applied.At, end); err == nil {
			fmt.Printf("clients from shedding to the end of the overload (%.0fs): %s\n", end.Sub(applied.At).Seconds(), f)
		}
	}
	// The gate as a deploy job would ask it: exit 0 proceed, 1 blocked.
	fmt.Printf("\n$ andon gate --sku %s --stage deployment --url %s --token %s\n", s.Spec.Service, s.Webhook, cfg.Token)
	if r, err := s.RunAndon(ctx, append([]string{"gate", "--sku=" + s.Spec.Service, "--stage=deployment"}, s.LedgerURL()...)...); err == nil {
		fmt.Printf("%s%s(exit %d)\n", r.Stdout, r.Stderr, r.Code)
	}
	if a, ok := w.First(EvAndon); ok {
		id, _, _ := strings.Cut(a.Detail, " ")
		fmt.Printf("\nThe ledger outlives the demo; resolve the andon and the gate lets %s proceed (exit 0):\n"+
			"  %s resolve %s --db %s --root-cause … --fix … --prevention …\n  %s gate --sku %s --db %s\n",
			s.Spec.Service, s.Andon, id, s.DB, s.Andon, s.Spec.Service, s.DB)
	}
	report := filepath.Join(dir, "report.html")
	if err := writeReport(report, res, w.Events(), s.red.threshold); err != nil {
		return err
	}
	fmt.Printf("report: %s\n", report)
	// The baseline is judged like the e2e test judges it: by the alerts that became active after it began.
	if noisy := w.BaselineAlerts(); len(noisy) > 0 {
		return fmt.Errorf("the baseline was not quiet: %s; logs are in %s", strings.Join(noisy, "; "), dir)
	}
	fmt.Println("baseline: quiet (no alert became active after it began)")
	for _, need := range []string{EvFiring, EvApplied, EvRecovered, EvAndon} {
		if _, ok := w.First(need); !ok {
			return fmt.Errorf("the loop did not reach %q; logs are in %s", need, dir)
		}
	}
	return nil
}
