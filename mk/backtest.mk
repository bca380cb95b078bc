# backtest: replay a spec's alerts over real history (`andon backtest`). The unit tests run in
# test-go; these targets add the real Prometheus + promtool reference and the Chromium check.

.PHONY: test-backtest test-backtest-report bench-backtest backtest-demo

## test-backtest: three days of history backfilled into a real Prometheus; the backtest's firings
## must equal promtool's evaluation of the same rules over the same series (the whole example
## over 40 h: promtool's 10,000-sample query limit); the CLI end to end.
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

BACKTEST_DEMO := $(CACHE)/backtest-demo

## backtest-demo: three days of erlmcp history backfilled into a Prometheus on 127.0.0.1:19190,
## then `andon backtest` of the example against a laxer baseline, table on stdout and the HTML
## report in .cache/backtest-demo/report.html.
backtest-demo: tools build
	rm -rf $(BACKTEST_DEMO) && mkdir -p $(BACKTEST_DEMO)
	$(GO) run ./backtest/history/openmetrics -days 3 -instances 2 > $(BACKTEST_DEMO)/history.om
	$(TOOLS_BIN)/promtool tsdb create-blocks-from openmetrics $(BACKTEST_DEMO)/history.om $(BACKTEST_DEMO)/data >/dev/null
	printf 'global:\n  scrape_interval: 15s\n' > $(BACKTEST_DEMO)/prometheus.yml
	sed 's/thresholds: {yellow: 0.05%/thresholds: {yellow: 0.1%/' examples/erlmcp/limits.yaml > $(BACKTEST_DEMO)/baseline.yaml
	$(TOOLS_BIN)/prometheus --config.file=$(BACKTEST_DEMO)/prometheus.yml --storage.tsdb.path=$(BACKTEST_DEMO)/data \
		--storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:19190 --log.level=warn & pid=$$!; \
	trap "kill $$pid" EXIT; \
	until curl -sf http://127.0.0.1:19190/-/ready >/dev/null; do sleep 0.5; done; \
	$(ANDON) backtest -f examples/erlmcp/limits.yaml --baseline $(BACKTEST_DEMO)/baseline.yaml \
		--prometheus http://127.0.0.1:19190 --range 3d --to 2025-06-04T23:59:45Z --html $(BACKTEST_DEMO)/report.html
