# stack: the closed loop on 127.0.0.1 (examples/stack) — MCP server, Prometheus, Alertmanager,
# andon webhook and load harness, all real, all started and stopped by the Go orchestrator.

.PHONY: demo e2e bench-loop

## demo: run baseline → overload → recovery through the whole loop, print the timeline, write the report.
demo: tools build
	$(GO) run ./examples/stack --repo . --dir $(CACHE)/stack-demo

## e2e: the same stack as an automated test (skipped by plain `go test`, which lacks ANDON_E2E).
e2e: tools build
	ANDON_E2E=1 $(GO) test -count=1 -timeout 6m -run 'TestE2E' -v ./examples/stack/

## bench-loop: onset → shedding applied over several runs; client errors and p95 with the loop on vs off.
bench-loop: tools build
	ANDON_E2E=1 $(GO) test -count=1 -timeout 15m -run '^$$' -bench 'BenchmarkLoop' -benchtime 1x -v ./examples/stack/

BENCH_TARGETS += bench-loop
