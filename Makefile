# moq-relay — build, run, test.
GO        ?= go
BIN       := bin
WEB       := examples/web
PKGS      := ./...
FUZZTIME  ?= 20s
# The pinned staticcheck (2026.2.2), fetched by the Go toolchain on first use.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/moq-cluster/moq-relay/cmd/internal/buildinfo.Version=$(VERSION)

.PHONY: all build run test test-short soak lint fuzz fuzz-smoke bench pgo web clean interop-mediamtx

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/... ./examples/clock

# The product's main job: a local demo on loopback with self-signed certificates.
# With ffmpeg and the bundles (web) it also plays a test pattern in the browser.
run: build web
	$(GO) build -o $(BIN)/moq-web-serve ./examples/web/serve
	./examples/demo.sh

# Everything CI runs: vet, unit and integration tests with the race detector,
# real QUIC/WebTransport on loopback, and the headless-Chromium interop tests
# (skipped with a notice when Chromium, node or the bundles are absent,
# unless CI=true).
test: web
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@$(WEB)/harness.sh

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The cluster soak of `make test` (40 s of churn), run longer by hand: a root
# and two leaves under publishers and subscribers that come and go, some cut
# off, then memory, goroutines and cluster state must return to baseline.
SOAK_DURATION ?= 10m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -race -count=1 -timeout 3h -run '^TestSoak$$' -v ./cluster/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

# Run every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz-smoke:
	./.ci/fuzz.sh $(FUZZTIME)

# The built relay in its own process (fan-out 1:200, 1:100, 1:1000, idle
# sessions, two hops; docs/performance.md), with the in-process relay vs raw
# quic-go fan-out in the same run, then the cluster directory and root
# lookups (in-memory and over the control protocol). BENCH_FLAGS adds flags,
# e.g. BENCH_FLAGS='--save base.json', '--compare base.json' or
# '--baseline-relay-bin OLD/moq-relay' (measured alternately in the same run).
BENCH_ROUNDS ?= 3
BENCH_FLAGS  ?=
bench: build
	$(GO) run ./cmd/moq-bench proc --relay-bin $(BIN)/moq-relay --rounds $(BENCH_ROUNDS) --duration 3s --quic-n 100,1000 $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench 'Delivery' -benchtime 20000x ./moqt/
	$(GO) test -run '^$$' -bench 'Lookup|Announce|Listing' -benchtime 2s ./cluster/

# Refresh the profile the Go compiler optimises moq-relay (and moq-bench's
# raw quic-go floor, through a link) with: CPU profiles of the built relay
# under the bench's fan-out and two-hop cases, merged (docs/performance.md).
# `go build` applies cmd/moq-relay/default.pgo by itself.
pgo: build
	@dir=$$(mktemp -d /tmp/moq-pgo.XXXXXX) && \
	$(GO) run ./cmd/moq-bench proc --relay-bin $(BIN)/moq-relay --case fanout-200,fanout-100,fanout-1000,two-hop --rounds 1 --duration 8s --floor=false --quic-n '' --profile $$dir && \
	$(GO) tool pprof -proto $$dir/*-cpu.pb.gz > $$dir/merged.pgo && \
	mv $$dir/merged.pgo cmd/moq-relay/default.pgo; rc=$$?; rm -rf $$dir; exit $$rc

# Third-party interop with MediaMTX v1.20.1 (moqt-16 … moqt-19), both ways
# (examples/mediamtx/README.md). Opt-in: building MediaMTX takes minutes, so
# `make test` skips it. Needs ffmpeg; MEDIAMTX_BIN picks where it is built.
MEDIAMTX_BIN ?= /tmp/mediamtx-bin/mediamtx
interop-mediamtx:
	./examples/mediamtx/build.sh $(MEDIAMTX_BIN)
	MOQ_MEDIAMTX_BIN=$(MEDIAMTX_BIN) $(GO) test -count=1 -v -timeout 10m ./examples/mediamtx/

# Browser bundles for the watch and publish pages and the interop tests (npm
# ci only when the lock changed).
# Without npm, outside CI, the step is skipped with a notice (the interop
# tests then skip too).
web: $(WEB)/dist/.built

$(WEB)/dist/.built: $(WEB)/package.json $(WEB)/package-lock.json $(wildcard $(WEB)/src/*)
	@if [ "$$CI" != true ] && ! command -v npm >/dev/null 2>&1; then \
		echo "NOTICE: npm not found: browser bundles not built, the browser interop tests will be skipped (apt-get install nodejs npm chromium)"; \
	else \
		set -e; cd $(WEB); npm ci --no-audit --no-fund; npm run build; touch dist/.built; \
	fi

clean:
	rm -rf $(BIN) $(WEB)/dist $(WEB)/node_modules
