# harness: the MCP load harness (`andon load`). Plain Go tests run in test-go;
# these targets add what needs installing.

VEGETA   := $(TOOLS_BIN)/vegeta

.PHONY: test-report bench-harness chromium

## chromium: Debian's headless browser, for the report test (CI runs as root with apt reachable).
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	else echo ">> installing chromium (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; fi

## test-report: load the harness's HTML report in headless Chromium and check that every chart drew.
test-report: chromium
	ANDON_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run 'TestReportDrawsInHeadlessChromium' ./harness/

TEST_TARGETS += test-report

$(VEGETA): tools/vegeta/go.mod tools/vegeta/go.sum
	@mkdir -p $(TOOLS_BIN)
	@echo ">> building pinned vegeta"
	cd tools/vegeta && $(GO) build -trimpath -o $(VEGETA) github.com/tsenart/vegeta/v12
	@touch $(VEGETA)

## bench-harness: `andon load` and vegeta as whole processes on the same loopback endpoint: latency at
## each rate, CPU per 1,000 requests from the OS, the maximum rate each sustains.
bench-harness: $(VEGETA) build
	$(GO) run ./harness/bench -vegeta $(VEGETA) -andon $(ANDON)

BENCH_TARGETS += bench-harness

# The official "everything" MCP server (npm), a server nobody here wrote: the
# seed profiles must run against it unchanged. Pinned; installed under .cache/npm.
EVERYTHING_VERSION := 2026.8.31
EVERYTHING         := $(CACHE)/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js

.PHONY: everything-server test-interop nodejs

## nodejs: Node and npm from Debian when missing (CI runs as root with apt reachable).
nodejs:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then :; \
	else echo ">> installing nodejs and npm (apt)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; fi

$(EVERYTHING): | nodejs
	@echo ">> installing @modelcontextprotocol/server-everything@$(EVERYTHING_VERSION) (npm)"
	npm install --prefix $(CACHE)/npm --no-audit --no-fund --loglevel=error @modelcontextprotocol/server-everything@$(EVERYTHING_VERSION)
	@touch $(EVERYTHING)

everything-server: $(EVERYTHING)

## test-interop: the seed profiles against the official everything server (fails instead of skipping).
test-interop: everything-server
	ANDON_REQUIRE_EVERYTHING=1 $(GO) test -count=1 -run 'TestSeedProfilesAgainstTheEverythingServer|TestEverythingServerOverLegacySSEAndStdio' ./harness/

TEST_TARGETS += test-interop
