# stack: the closed loop on 127.0.0.1 (examples/stack) — MCP server, Prometheus, Alertmanager,
# `andon webhook` and load harness, all real, all started and stopped by the Go orchestrator.

.PHONY: demo e2e bench-loop

## demo: run warm-up → baseline → overload → recovery through the whole loop, print the timeline, write the report.
demo: tools build
	$(GO) run ./examples/stack --repo . --dir $(CACHE)/stack-demo

## e2e: the same stack as automated tests (plain `go test` skips them: it lacks ANDON_E2E), Ctrl-C and
## SIGKILL leaving no process behind, and the report drawn in headless Chromium (required in CI).
## In CI (CI set) a missing pinned binary or Chromium fails instead of skipping.
e2e: tools build $(if $(CI),chromium)
	ANDON_E2E=1 ANDON_REQUIRE_CHROMIUM=$(if $(CI),1) $(GO) test -count=1 -timeout 20m -run 'TestE2E|TestInterrupt|TestReport' -v ./examples/stack/

TEST_TARGETS += e2e

## bench-loop: onset → shedding applied over several runs; client errors and admitted p95 with the loop on vs off.
bench-loop: tools build
	ANDON_E2E=1 $(GO) test -count=1 -timeout 15m -run '^$$' -bench 'BenchmarkLoop' -benchtime 1x -v ./examples/stack/

BENCH_TARGETS += bench-loop
