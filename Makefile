# The Go release every target builds, tests and scans with, the same as the
# Docker images'. Any installed Go 1.21 or newer fetches it from the module
# proxy the first time (about 76 MB, once per machine).
export GOTOOLCHAIN := go1.27.3
# Every Go module of the workspace, as listed in go.work. An empty list (no
# Go, GOWORK=off) must not pass as "no tests".
MODULES := $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) go list -m -f '{{.Dir}}' 2>/dev/null)
ifeq ($(strip $(MODULES)),)
$(error cannot list the workspace's modules: run make from the repository root with Go 1.21 or newer, GOWORK not set to off; `go list -m` says: $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) go list -m 2>&1 | head -n 3))
endif
# Test-only modules kept out of go.work: their dependencies (BuildKit and
# compose-go in deploy/docker; Helm, client-go and KEDA in deploy/helm) would
# otherwise raise the versions the services build and test with in the
# workspace. Tested, vetted, linted and tidied on their own (GOWORK=off).
SOLO_MODULES := $(CURDIR)/deploy/docker $(CURDIR)/deploy/helm
# in_module, in a loop over $$mod, enters that module with the GOWORK it needs.
in_module = cd $$mod && case " $(SOLO_MODULES) " in *" $$mod "*) export GOWORK=off;; esac
# Every command to build into bin/: directory of its main package.
CMDS := deploy/devkafka deploy/localrun $(wildcard services/*-service)
CMDS += deploy/bench deploy/observability
BIN := $(CURDIR)/bin
GOTEST_FLAGS ?= -race -count=1 -timeout 15m
# The cluster the integration tests use: empty means an embedded broker per
# test. `make test` ignores a KAFKA_BROKERS in your shell; `make test-kafka`
# sets this.
TEST_KAFKA_BROKERS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into bin/
	@mkdir -p $(BIN)
	@for cmd in $(CMDS); do \
		echo "go build -o bin/$$(basename $$cmd) ./$$cmd"; \
		(cd $$cmd && go build -o $(BIN)/$$(basename $$cmd) .) || exit 1; \
	done

.PHONY: test
test: observed-tools ## Run every module's tests with the race detector (embedded broker; no Docker)
	@set -e; for mod in $(MODULES) $(SOLO_MODULES); do \
		echo "==> go test $(GOTEST_FLAGS) $${mod#$(CURDIR)/}/..."; \
		($(in_module) && KAFKA_BROKERS="$(TEST_KAFKA_BROKERS)" go test $(GOTEST_FLAGS) ./...); \
	done

# deploy/observability's tests run the real Prometheus, promtool and Jaeger.
# Built here, before any test's timeout starts: cold, the build takes
# minutes; then the Go build cache holds them.
.PHONY: observed-tools
observed-tools: ## Build Prometheus, promtool and Jaeger for run-observed and the tests (go tool; minutes the first time)
	@for tool in prometheus:promtool prometheus:prometheus jaeger:jaeger; do \
		dir=deploy/observability/tools/$${tool%%:*}; \
		echo "go tool -n $${tool#*:} ($$dir)"; \
		GOWORK=off go -C $$dir tool -n $${tool#*:} >/dev/null || exit 1; \
	done

.PHONY: test-helm
test-helm: ## Only deploy/helm's tests: the chart and Strimzi manifests, no cluster (make test runs them too)
	@cd deploy/helm && GOWORK=off go test $(GOTEST_FLAGS) ./...

.PHONY: test-kafka
test-kafka: ## Run every module's tests against a real Apache Kafka (KAFKA_BROKERS, or one started locally)
	@bash deploy/kafka/test-kafka.sh

.PHONY: kafka-up
kafka-up: ## Start a local Apache Kafka from Maven Central's jars on 127.0.0.1:39092 (Java 17, Maven)
	@bash deploy/kafka/kafka.sh up

.PHONY: kafka-down
kafka-down: ## Stop the local Apache Kafka and delete its data
	@bash deploy/kafka/kafka.sh down

.PHONY: lint
lint: ## Check formatting (gofmt), run go vet, golangci-lint and govulncheck on every module, and api/schemas against api/baseline
	@out=$$("$$(go env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for mod in $(MODULES) $(SOLO_MODULES); do \
		echo "==> go vet $${mod#$(CURDIR)/}/..."; \
		($(in_module) && go vet ./...); \
	done
	@$(MAKE) --no-print-directory golangci-lint
	@bash deploy/tools/vulncheck.sh
	@echo "==> api: schemas compatible with api/baseline"
	@cd api && go test -count=1 -run '^TestCompatibleWithBaseline$$' .

# golangci-lint is pinned in a tool module of its own, outside go.work, so
# that its dependencies and govulncheck's (deploy/tools) do not move each
# other's versions. It is built with GOTOOLCHAIN's Go, which it needs to load
# go 1.27 code, and lints every module of the workspace in one run, with
# .golangci.yml. Its cache (~/.cache/golangci-lint, or GOLANGCI_LINT_CACHE)
# keeps the results of packages that did not change.
.PHONY: golangci-lint
golangci-lint: ## Run golangci-lint (.golangci.yml) over every module (go tool; the first build takes about 3 minutes)
	@gl=$$(GOWORK=off go -C deploy/tools/golangci tool -n golangci-lint) && \
	echo "==> $$("$$gl" version)" && \
	"$$gl" run $(patsubst $(CURDIR)/%,./%/...,$(MODULES)) && \
	for mod in $(SOLO_MODULES); do ($(in_module) && "$$gl" run ./...) || exit 1; done

# api/baseline holds the schemas as last published; `make lint` fails on a
# change incompatible with them. Publishing a breaking change is deliberate.
.PHONY: api-baseline
api-baseline: ## Accept the current api/schemas as the baseline the compatibility check compares with
	rm -rf api/baseline/schemas && mkdir -p api/baseline/schemas && cp api/schemas/*.json api/baseline/schemas/

.PHONY: vulncheck
vulncheck: ## Scan every module with govulncheck against the pinned, offline vulnerability database
	@bash deploy/tools/vulncheck.sh

.PHONY: vulndb-update
vulndb-update: ## Move the vulnerability database pin (golang.org/x/vulndb) to its newest version
	@bash deploy/tools/vulncheck.sh update

.PHONY: tidy
tidy: ## Run go mod tidy in every module
	@set -e; for mod in $(MODULES) $(SOLO_MODULES); do \
		echo "==> go mod tidy $${mod#$(CURDIR)/}"; \
		(cd $$mod && GOWORK=off go mod tidy); \
	done

.PHONY: fuzz
fuzz: ## Fuzz the three event decoders and POST /orders, each for FUZZTIME (default 30s)
	@set -e; for spec in pkg:contracts:FuzzDecodeOrder pkg:contracts:FuzzDecodeInventoryEmpty \
		pkg:contracts:FuzzDecodeLoggingAction services/order-service:internal/httpapi:FuzzPostOrder; do \
		mod=$${spec%%:*}; pkg=$${spec#*:}; pkg=$${pkg%:*}; target=$${spec##*:}; \
		echo "==> $$target ($$mod/$$pkg)"; \
		(cd $$mod && go test -run=NONE -fuzz="^$$target\$$" -fuzztime=$${FUZZTIME:-30s} ./$$pkg/); \
	done

.PHONY: run
run: build ## Run the broker and the four services, no Docker, with a live view on http://localhost:8080 (Ctrl-C stops all)
	@$(BIN)/localrun -bin $(BIN)

.PHONY: run-observed
run-observed: build observed-tools ## Run as make run does, with Prometheus and Jaeger watching (no Docker; first build takes minutes)
	@$(BIN)/observability -bin $(BIN)

.PHONY: bench
bench: build ## Measure drain, memory, ingest and end-to-end latency; print a table (about a minute)
	@$(BIN)/bench -bin $(BIN)

.PHONY: anchor
anchor: build ## Compare the inventory with the same rule as a Kafka Streams app (exactly_once_v2) on Apache Kafka
	@bash deploy/anchor/compare.sh

.PHONY: chaos
chaos: build ## Crash, pause, outage, poison, retry and shutdown scenarios on real processes, then the inventory's proofs at full size (CHAOS_BROKER=kafka: on Apache Kafka)
	$(BIN)/bench chaos -bin $(BIN)
	@$(MAKE) --no-print-directory chaos-inventory

.PHONY: chaos-inventory
chaos-inventory: ## Prove the inventory exact at full size: instances killed, paused past their session timeout and scaled (embedded broker, or KAFKA_BROKERS)
	cd services/inventory-service && INVENTORY_PROOF_FULL=1 \
		go test $(GOTEST_FLAGS) -run 'TestKillOneOfThree|TestPauseOneOfThree|TestScaleUpAndDown' -v .

.PHONY: devkafka
devkafka: build ## Run the embedded broker on 127.0.0.1:29092
	$(BIN)/devkafka

# The service images for every platform: each build stage runs on the build
# platform and Go cross-compiles for the target's. The tags are the names
# Compose gives the images it builds (project eventshop). Without --load in
# IMAGE_FLAGS the images stay in BuildKit's cache; --load of two platforms
# needs Docker's containerd image store (or IMAGE_PLATFORMS=linux/amd64).
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_FLAGS ?=
SERVICES := $(notdir $(wildcard services/*-service))

.PHONY: images $(addprefix image-,$(SERVICES))
images: $(addprefix image-,$(SERVICES)) ## Build the four service images for linux/amd64 and linux/arm64 with docker buildx (IMAGE_FLAGS=--load to keep them)

$(addprefix image-,$(SERVICES)): image-%:
	docker buildx build --platform $(IMAGE_PLATFORMS) $(IMAGE_FLAGS) -f services/$*/Dockerfile -t eventshop-$* .

.PHONY: up
up: ## Build the images and start Kafka, Redpanda Console, the services, Prometheus, Grafana and Jaeger in Docker
	docker compose up --build -d
	@echo "Redpanda Console: http://localhost:8080  order API: http://localhost:8000/orders  Kafka from the host: localhost:29092"
	@echo "Grafana: http://localhost:3000/d/eventshop  Prometheus: http://localhost:9090  Jaeger: http://localhost:16686"
	@echo "make logs follows the logs, make scale N=3 runs three inventory-service instances, make down stops everything"

.PHONY: down
down: ## Stop and remove the Docker containers (Kafka's data goes with them)
	docker compose down

.PHONY: logs
logs: ## Follow the logs of every Docker container
	docker compose logs -f

# Number of inventory-service instances for `make scale`.
N ?= 3

.PHONY: scale
scale: ## Run N inventory-service instances in Docker (N=3 by default; N=1 to go back)
	docker compose up -d --no-recreate --scale inventory-service=$(N)

.PHONY: clean
clean: ## Remove bin/
	rm -rf $(BIN)
