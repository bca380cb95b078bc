# backtest: replay a spec's alerts over real history (`andon backtest`). The unit tests run in
# test-go; these targets add the real Prometheus + promtool reference and the Chromium check.

.PHONY: test-backtest test-backtest-report bench-backtest backtest-demo

## test-backtest: three days of history backfilled into a real Prometheus; the backtest's firings
## must equal promtool's evaluation of the same rules over the same series; the CLI end to end.
test-backtest: tools build
	ANDON_BACKTEST_REFERENCE=1 $(GO) test -count=1 -timeout 80m -run 'TestFiringsEqualPromtool' -v ./backtest/

## test-backtest-report: the backtest's HTML report drawn in headless Chromium (required here).
test-backtest-report: chromium
	ANDON_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run 'TestReportDrawsInHeadlessChromium' ./backtest/

TEST_TARGETS += test-backtest test-backtest-report

## bench-backtest: 30 days × 100 instances at a 1-minute step through remote read from a real
## Prometheus (ANDON_BACKTEST_DAYS / ANDON_BACKTEST_INSTANCES to change); prints samples/s, wall
## time, heap peak. The history's blocks are written once into .cache/backtest-bench.
bench-backtest: tools
	cat /proc/loadavg
	ANDON_BACKTEST_BENCH=1 $(GO) test -run '^$$' -bench 'BenchmarkBacktest' -benchtime 1x -timeout 90m -v ./backtest/
	cat /proc/loadavg

BENCH_TARGETS += bench-backtest
