# andon — two commands do everything on a fresh machine with Go: `make run` and `make test`.
# Everything installed lives under .cache/ (ignored), so later runs are quick.

SHELL      := /bin/bash
GO         ?= go
CACHE      := $(CURDIR)/.cache
TOOLS_BIN  := $(CACHE)/bin
export ANDON_TOOLS_BIN := $(TOOLS_BIN)
export PATH := $(TOOLS_BIN):$(PATH)

PROM_TOOLS := $(TOOLS_BIN)/prometheus $(TOOLS_BIN)/promtool
AM_TOOLS   := $(TOOLS_BIN)/alertmanager $(TOOLS_BIN)/amtool
AM_OLDEST  := $(TOOLS_BIN)/alertmanager-oldest $(TOOLS_BIN)/amtool-oldest
PROMTOOL_LTS := $(TOOLS_BIN)/promtool-lts
ANDON      := $(TOOLS_BIN)/andon
EXAMPLES   := erlmcp mcpserver

# Each area adds its own steps in mk/<area>.mk: TEST_TARGETS += …, BENCH_TARGETS += …
TEST_TARGETS  :=
BENCH_TARGETS :=
-include mk/*.mk

.PHONY: all run test bench tools build generate check-generated test-go test-fuzz-seeds golden-update clean

all: build

## run: generate and test the erlmcp example with real promtool, print the explanation.
run: tools build
	$(ANDON) generate -f examples/erlmcp/limits.yaml -o examples/erlmcp/generated
	$(ANDON) test examples/erlmcp/generated
	$(ANDON) explain examples/erlmcp/limits.yaml

## test: every test, as CI runs it.
test: tools build check-generated test-go $(TEST_TARGETS)

## bench: speed and memory figures.
bench: tools build $(BENCH_TARGETS)
	$(GO) test -run '^$$' -bench . -benchmem ./...

## tools: build the pinned Prometheus, promtool, Alertmanager and amtool into .cache/bin
## (Alertmanager twice: the newest release and the oldest supported; promtool also as 2.53 LTS).
tools: $(PROM_TOOLS) $(AM_TOOLS) $(AM_OLDEST) $(PROMTOOL_LTS)

$(PROM_TOOLS) &: tools/prometheus/go.mod tools/prometheus/go.sum
	@mkdir -p $(TOOLS_BIN)
	@echo ">> building pinned prometheus + promtool (first time takes minutes)"
	cd tools/prometheus && $(GO) build -trimpath -o $(TOOLS_BIN)/ \
		github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
	@touch $(PROM_TOOLS)

# Alertmanager ≥ 0.32 does not build with `go install` (its module lacks the embedded web UI), nor
# does Prometheus 2.x (replace directives): build-module.sh builds a writable copy of the module.
# The version is the require line of each go.mod.
AM_MOD := github.com/prometheus/alertmanager
$(AM_TOOLS) &: tools/alertmanager/newest/go.mod tools/alertmanager/newest/go.sum tools/build-module.sh
	GO=$(GO) tools/build-module.sh tools/alertmanager/newest $(AM_MOD) $(TOOLS_BIN) "" $(CACHE)/src cmd/alertmanager cmd/amtool
	@touch $(AM_TOOLS)

$(AM_OLDEST) &: tools/alertmanager/oldest/go.mod tools/alertmanager/oldest/go.sum tools/build-module.sh
	GO=$(GO) tools/build-module.sh tools/alertmanager/oldest $(AM_MOD) $(TOOLS_BIN) -oldest $(CACHE)/src cmd/alertmanager cmd/amtool
	@touch $(AM_OLDEST)

# The oldest promtool andon claims for classic-histogram rule files (Prometheus 2.53 LTS).
$(PROMTOOL_LTS): tools/prometheus/lts/go.mod tools/prometheus/lts/go.sum tools/build-module.sh
	GO=$(GO) tools/build-module.sh tools/prometheus/lts github.com/prometheus/prometheus $(TOOLS_BIN) -lts $(CACHE)/src cmd/promtool
	@touch $(PROMTOOL_LTS)

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X github.com/prometheus/common/version.Version=$(VERSION) -X github.com/prometheus/common/version.Revision=$(REVISION)

build:
	@mkdir -p $(TOOLS_BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(ANDON) ./cmd/andon

## check-generated: the committed bundles must be exactly what the generator writes now.
check-generated: build
	@for ex in $(EXAMPLES); do \
		tmp=$$(mktemp -d); \
		$(ANDON) generate -f examples/$$ex/limits.yaml -o $$tmp || exit 1; \
		diff -r examples/$$ex/generated $$tmp || { echo "examples/$$ex/generated is stale: run 'make generate'"; exit 1; }; \
		rm -rf $$tmp; \
	done

generate: build
	@for ex in $(EXAMPLES); do $(ANDON) generate -f examples/$$ex/limits.yaml -o examples/$$ex/generated || exit 1; done

test-go:
	$(GO) test -count=1 ./...

golden-update:
	$(GO) test ./... -update

clean:
	rm -rf $(CACHE)
