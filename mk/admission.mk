# admission + reference MCP server (actuator/admission, examples/mcpserver)

MCP_CONFORMANCE_VERSION := 0.1.16
MCP_CONFORMANCE_NODE    := 22.23.3

.PHONY: test-conformance bench-mcpserver
TEST_TARGETS  += test-conformance


## test-conformance: the official MCP conformance suite against examples/mcpserver;
## fails only on results not listed in examples/mcpserver/conformance/expected-failures.yml.
test-conformance:
	examples/mcpserver/conformance/run.sh $(CACHE) $(MCP_CONFORMANCE_VERSION) $(MCP_CONFORMANCE_NODE)

## bench-mcpserver (not in BENCH_TARGETS: `make bench` already runs these): admission admit-path cost and tools/call echo throughput in both MCP eras.
bench-mcpserver:
	$(GO) test -run '^$$' -bench . -benchmem ./actuator/admission/ ./examples/mcpserver/...
