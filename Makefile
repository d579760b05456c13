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

.PHONY: all build run test test-short soak lint fuzz fuzz-smoke bench web clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/... ./examples/clock

# The product's main job: a local demo on loopback with self-signed certificates.
run: build
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

# Fan-out through the relay beside raw quic-go, then the cluster directory
# and root lookups (in-memory and over the control protocol).
bench: build
	$(GO) run ./cmd/moq-bench
	$(GO) test -run '^$$' -bench 'Lookup|Announce|Listing' -benchtime 2s ./cluster/

# Browser bundles for the interop tests (npm ci only when the lock changed).
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
