# ssmsession: everything a fresh machine with Go needs is built from here.
#   make run    build the collector and run the demo on testdata/demo
#   make test   lint, build the collector, run all tests (unit, golden, e2e) with -race
#               (go test ./... alone runs all but the end-to-end tests: -tags e2e adds them)
#   make bench  benchmarks against the stock OpenTelemetry way, with -benchmem

GO        ?= go
BIN       := bin
COLLECTOR := $(BIN)/otelcol-ssmsession
DIST      := build/otelcol-ssmsession
BUILDER   := $(BIN)/builder
MDATAGEN  := $(BIN)/mdatagen
SOURCES   := $(shell find . -name '*.go' -not -path './build/*' -not -path './tools/*') go.mod go.sum

.PHONY: build run test lint redis bench fuzz generate clean

build: $(COLLECTOR)

# Tools are pinned in tools/go.mod (`go install pkg@version` cannot resolve
# mdatagen here: its deprecation lookup is refused by the registry).
$(BUILDER) $(MDATAGEN): tools/go.mod tools/go.sum
	mkdir -p $(BIN)
	cd tools && $(GO) build -o ../$(BIN)/ go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen

# ocb's own `go mod tidy` fails on this registry (it also resolves test-only
# imports of bundled components, which are refused), so ocb only writes the
# sources; then tidy tolerating those and compile.
$(COLLECTOR): builder-config.yaml $(SOURCES) | $(BUILDER)
	mkdir -p build $(BIN)
	-$(BUILDER) --config builder-config.yaml --skip-compilation >build/ocb.log 2>&1
	@test -f $(DIST)/main.go || { cat build/ocb.log; echo "ocb did not generate the collector sources"; exit 1; }
	cd $(DIST) && GOSUMDB=off GOFLAGS=-mod=mod $(GO) mod tidy -e >../tidy.log 2>&1 || true
	cd $(DIST) && $(GO) build -trimpath -o ../../$(COLLECTOR) .

run: $(COLLECTOR)
	$(GO) run ./cmd/ssmsession-demo -collector $(COLLECTOR)

# SSMSESSION_REQUIRE_REDIS turns "redis-server missing" from a skip into a
# failure, so the Redis backend is always tested here.
# The e2e build tag adds the tests that build and run the collector binary
# (e2e/, the demo's test); plain `go test ./...` runs the rest, in seconds.
test: lint redis $(COLLECTOR)
	SSMSESSION_REQUIRE_REDIS=1 $(GO) test -tags e2e -race -count=1 -timeout 45m ./...

# The Redis backend's tests start a real redis-server (Debian's package) on
# 127.0.0.1; install it when missing.
redis:
	@command -v redis-server >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server || { $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }; }

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './build/*')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags e2e ./...

# Alternating rounds against OTTL, then per-shape throughput and memory,
# envelopes of 1,000 and 10,000 events, the new_terms backends (memory,
# file_storage, Redis), the 1,000,000-term run on file_storage, the
# connector and the store, and the built collector's latency per path.
# Save the output and compare runs with benchstat (make bench | tee new.txt).
bench: redis
	$(GO) test -run '^$$' -bench 'BenchmarkVersusOTTL' -benchtime 15x ./processor/ssmsessionprocessor/
	$(GO) test -run '^$$' -bench 'BenchmarkPipelineCost' -benchtime 5x -v ./processor/ssmsessionprocessor/
	SSMSESSION_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench 'BenchmarkConcurrency' -benchtime 30x ./processor/ssmsessionprocessor/
	SSMSESSION_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench 'BenchmarkProcessor|BenchmarkNonMatching|BenchmarkMatches|BenchmarkBackends' -benchmem ./processor/ssmsessionprocessor/
	$(GO) test -run '^$$' -bench 'BenchmarkEnvelopeScale' -benchtime 5x -benchmem ./processor/ssmsessionprocessor/
	$(GO) test -run '^$$' -bench 'BenchmarkFirstSeenAtScale|BenchmarkConsumeDuringPrune' -benchtime 1x -timeout 30m ./processor/ssmsessionprocessor/
	$(GO) test -run '^$$' -bench . -benchmem ./connector/ssmsessionconnector/ ./internal/firstseen/
	$(GO) test -tags e2e -run '^$$' -bench 'BenchmarkLatency|BenchmarkBackfill' -benchtime 1x ./e2e/

# Each fuzz target for FUZZTIME (make test runs their seed corpora); a
# crasher is saved under the package's testdata/fuzz and replayed by make test.
FUZZTIME ?= 60s
fuzz:
	for f in FuzzReadJSON FuzzScan FuzzReadMaps FuzzTargetFromKV FuzzEnvelopes; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./internal/cloudtrail/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzProcessor$$' -fuzztime $(FUZZTIME) ./processor/ssmsessionprocessor/

# Regenerate mdatagen code after editing a metadata.yaml.
generate: $(MDATAGEN)
	cd processor/ssmsessionprocessor && ../../$(MDATAGEN) metadata.yaml
	cd connector/ssmsessionconnector && ../../$(MDATAGEN) metadata.yaml

clean:
	rm -rf $(BIN) build .run
