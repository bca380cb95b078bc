# rules: what the generated rules cost on a real Prometheus, andon's SLO rules vs Sloth's for the
# same SLO (rulegen/bench, a module of its own: it writes TSDB blocks with Prometheus' tsdb package).

SLOTH := $(TOOLS_BIN)/sloth

.PHONY: bench-rules

$(SLOTH): tools/sloth/go.mod tools/sloth/go.sum
	@mkdir -p $(TOOLS_BIN)
	@echo ">> building pinned sloth"
	cd tools/sloth && $(GO) build -trimpath -o $(SLOTH) github.com/slok/sloth/cmd/sloth
	@touch $(SLOTH)

## bench-rules: rule-group evaluation time (prometheus_rule_group_last_duration_seconds, read from
## /api/v1/rules), andon vs Sloth v0.16.0 side by side in one Prometheus, 1,000 instances of the
## erlmcp example's series with 3 days of counter history. About 6 minutes.
bench-rules: tools $(SLOTH)
	cd rulegen/bench && $(GO) run . -spec ../../examples/erlmcp/limits.yaml -sloth $(SLOTH)

BENCH_TARGETS += bench-rules

.PHONY: test-history

## test-history: the one-failure promtool test with 3 days of history at 0.5, 2, 5 and 10 req/s
## (the bundle's tests use 1 hour). NOT in TEST_TARGETS: it FAILS today, promtool's unit-test
## engine refuses a query past 10,000 samples, which a 3d window at 15 s reaches at 41h40m
## ("query processing would load too many samples"); it also costs over 15 min of CPU.
test-history: tools
	ANDON_HISTORY_3D=1 $(GO) test -count=1 -timeout 50m -run 'TestOneFailureAfterThreeDays' -v ./promtest/
