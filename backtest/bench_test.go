package backtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/andon-sre/andon/backtest/history"
)

// benchEnv reads an integer knob of the benchmark.
func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkBacktest replays the erlmcp example over DAYS days of INSTANCES instances scraped every
// 15s (ANDON_BACKTEST_DAYS, ANDON_BACKTEST_INSTANCES; 30 and 100 by default) at a 1-minute step,
// read by remote read from a real Prometheus. The history is written as TSDB blocks once and kept
// in .cache/backtest-bench. Two rule sets: the operating limits alone (the spec without `slo:`)
// over the whole history, and the whole example over its first SLO_DAYS days
// (ANDON_BACKTEST_SLO_DAYS, 3): its SLO rules rate over up to 30 days, and each evaluation of such
// a rule reads every sample of its window, so they cost window/scrape-interval times more per
// evaluation than the operating limits. Reported: raw samples read per second, wall time per
// replay, the Go heap's peak and the scratch TSDB's size at the end.
func BenchmarkBacktest(b *testing.B) {
	if os.Getenv("ANDON_BACKTEST_BENCH") == "" {
		b.Skip("minutes long: run by `make bench-backtest` (ANDON_BACKTEST_BENCH=1)")
	}
	days, instances := benchEnv("ANDON_BACKTEST_DAYS", 30), benchEnv("ANDON_BACKTEST_INSTANCES", 100)
	sloDays := min(days, benchEnv("ANDON_BACKTEST_SLO_DAYS", 3))
	h := history.Options{Start: historyStart, Duration: time.Duration(days) * 24 * time.Hour, Interval: 15 * time.Second, Instances: instances}
	dataDir := benchHistory(b, h)
	url := startPrometheus(b, dataDir)
	spec, err := os.ReadFile("../examples/erlmcp/limits.yaml")
	if err != nil {
		b.Fatal(err)
	}
	noSLO := filepath.Join(b.TempDir(), "limits.yaml")
	i := bytes.Index(spec, []byte("\nslo:"))
	if i < 0 {
		b.Fatal("the example has no slo: section any more: update the benchmark")
	}
	if err := os.WriteFile(noSLO, spec[:i+1], 0o644); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		days       int
	}{
		{"limits", noSLO, days},
		{"limits+slo", "../examples/erlmcp/limits.yaml", sloDays},
	} {
		b.Run(fmt.Sprintf("%s/%dd/%dinstances/step1m", c.name, c.days, instances), func(b *testing.B) {
			rs := ok[*RuleSet](b)(ParseRules(c.name, exampleRules(b, c.path)))
			src := ok[Source](b)(NewSource(context.Background(), url, APIRemoteRead, 30*time.Minute))
			o := Options{From: h.Start, To: h.Start.Add(time.Duration(c.days)*24*time.Hour - h.Interval), Step: time.Minute}
			for b.Loop() {
				o.Dir = b.TempDir()
				stop := peakHeap()
				start := time.Now()
				rep := ok[*Report](b)(Run(context.Background(), src, rs, o))
				wall := time.Since(start)
				peak := stop()
				b.ReportMetric(float64(rep.Samples)/wall.Seconds(), "samples/s")
				b.ReportMetric(wall.Seconds(), "s/replay")
				b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-peak")
				b.ReportMetric(float64(dirSize(o.Dir))/(1<<20), "MiB-scratch-at-end")
				b.Logf("%d raw series, %d samples in %s; heap peak %d MiB; load %s", rep.Series, rep.Samples, wall.Round(time.Millisecond), peak>>20, loadavg())
			}
		})
	}
}

// benchHistory writes h as day-long TSDB blocks (what `promtool tsdb create-blocks-from` makes,
// without parsing gigabytes of text) into .cache/backtest-bench, once per size.
func benchHistory(b *testing.B, h history.Options) string {
	b.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".cache", "backtest-bench", fmt.Sprintf("%dd-%di", int(h.Duration.Hours()/24), h.Instances)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "complete")); err == nil {
		return root
	}
	if err := os.RemoveAll(root); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	ctx := context.Background()
	const day = 24 * time.Hour
	var (
		w     *tsdb.BlockWriter
		app   storage.Appender
		until int64
		lbls  = make([]labels.Labels, h.Instances*history.PerInstance)
		n     int
	)
	for s := range lbls {
		lbls[s] = h.Labels(s)
	}
	flush := func() {
		if w == nil {
			return
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	err = history.Walk(h, func(s int, t int64, v float64) error {
		if t >= until {
			flush()
			if w, err = tsdb.NewBlockWriter(promslog.NewNopLogger(), root, day.Milliseconds()); err != nil {
				return err
			}
			app = w.Appender(ctx)
			until = h.Start.UnixMilli() + (t-h.Start.UnixMilli())/day.Milliseconds()*day.Milliseconds() + day.Milliseconds()
		}
		if _, err := app.Append(0, lbls[s], t, v); err != nil {
			return err
		}
		if n++; n%1_000_000 == 0 {
			if err := app.Commit(); err != nil {
				return err
			}
			app = w.Appender(ctx)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	flush()
	if err := os.WriteFile(filepath.Join(root, "complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d samples of history as blocks in %s (load %s)", n, time.Since(start).Round(time.Second), loadavg())
	return root
}

// peakHeap samples the Go heap every 50ms until the returned func is called, which returns the
// highest value seen.
func peakHeap() func() uint64 {
	done := make(chan struct{})
	res := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	runtime.GC()
	return func() uint64 { close(done); return <-res }
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(bytes.TrimSpace(b))
}
