# kaizen: `andon report`, the Kaizen review of the ledger. Its plots are checked in headless
# Chromium (Debian's, installed by the chromium target of mk/harness.mk).

.PHONY: test-kaizen-report
TEST_TARGETS += test-kaizen-report

## test-kaizen-report: build a month of a real ledger, render the report and check in Chromium that every plot drew.
test-kaizen-report: chromium
	ANDON_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run 'TestReportDrawsInHeadlessChromium' ./kaizen/
