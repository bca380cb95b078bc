# cireport: `andon trigger --from-junit/--from-go-test/--from-sarif`. The tests parse reports
# written by real tools on a throw-away module: gotestsum (JUnit) and staticcheck (SARIF),
# pinned in tools/cireports and built here; plain `go test` skips those tests without them.

CI_REPORT_TOOLS := $(TOOLS_BIN)/gotestsum $(TOOLS_BIN)/staticcheck

.PHONY: cireport-tools test-cireport fuzz-cireport
TEST_TARGETS += test-cireport

$(CI_REPORT_TOOLS) &: tools/cireports/go.mod tools/cireports/go.sum
	@mkdir -p $(TOOLS_BIN)
	@echo ">> building pinned gotestsum + staticcheck"
	cd tools/cireports && $(GO) build -trimpath -o $(TOOLS_BIN)/ gotest.tools/gotestsum honnef.co/go/tools/cmd/staticcheck
	@touch $(CI_REPORT_TOOLS)

cireport-tools: $(CI_REPORT_TOOLS)

## test-cireport: parse the real tools' reports and open andons from them (fails, not skips, without the tools).
test-cireport: $(CI_REPORT_TOOLS)
	ANDON_REQUIRE_CI_TOOLS=1 $(GO) test -count=1 ./cireport/...
	ANDON_REQUIRE_CI_TOOLS=1 $(GO) test -count=1 -run 'TestTriggerFromCIReports' ./cmd/andon/

## fuzz-cireport: a short fuzzing run of each report parser (seeds alone run in test-go).
fuzz-cireport:
	for f in FuzzJUnit FuzzGoTest FuzzSARIF; do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 30s ./cireport/ || exit 1; done
