# weir — the targets a newcomer needs come first.
#
#   make run     build and start a single node with embedded defaults
#   make test    everything CI runs: lint, unit tests (-race), the real
#                systems (installed and started on demand), Kafka client
#                compatibility and crash tests, and the 3-node cluster's core
#                fault scenarios (test-cluster-core)
#   make test-connectors   every connector against its real system, through the
#                acceptance kit (connectors/conformance)
#   make test-long   the issue-sized runs make test leaves out (e.g. the
#                Elasticsearch sink's 200,000-record kill -9 run; ~15 min)
#   make test-cluster   replication under faults: 3-node clusters, kill -9, SIGSTOP,
#                network partitions, a Jepsen-style checker (test/cluster; root)
#   make image   the container image weir:<version> and weir:latest (Dockerfile;
#                installs and starts Docker on demand: test/services/docker.sh)
#   make bench   weir vs Apache Kafka (and connectors vs their client libraries) on this machine (not a test)

GO      ?= go
BIN     := bin/weir
PKGS    := ./...
# Unit tests run in-process; test/compat and test/crash drive external tools
# (kcat, Java) and subprocesses, so they run in test-compat after installs.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /test/compat -e /test/crash)
# weir version, GET / and --version report these (internal/buildinfo); a
# plain go build falls back to the VCS revision the toolchain records.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
LDFLAGS := -X github.com/weirlog/weir/internal/buildinfo.version=$(VERSION) -X github.com/weirlog/weir/internal/buildinfo.commit=$(COMMIT)

.PHONY: image test-image test-cluster test-cluster-core run test test-unit test-services test-connectors test-long bench-connectors test-runtime-kafka test-compat bench lint fuzz build services-up services-down clean

run: build
	./$(BIN) serve

test: lint services-up test-image test-connectors test-unit test-services test-runtime-kafka test-compat test-cluster-core
	@echo "make test: all passed"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/weir

# The container image (issue 15): a static binary, FROM scratch, built by the
# legacy builder (no BuildKit here). The context is bin/image: the binary and
# a data/ tree owned by the image's numeric user (a scratch image has no
# shell to chown with at build time).
IMAGE_UID := 65532
IMAGE_TAG := $(subst +,-,$(VERSION))
image:
	bash test/services/docker.sh start
	rm -rf bin/image && mkdir -p bin/image/data/connect-files
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/image/weir ./cmd/weir
	chown -R $(IMAGE_UID):$(IMAGE_UID) bin/image/data 2>/dev/null || true
	DOCKER_BUILDKIT=0 docker build -q -f Dockerfile -t weir:$(IMAGE_TAG) -t weir:latest bin/image
	@docker image inspect weir:latest --format 'weir image: weir:$(IMAGE_TAG) {{.Size}} bytes'

# The image as users run it (docker run --network host; test/image), the
# testcontainers-go module (test/testcontainers, its own go.mod) and the Java
# testcontainers suite (examples/testcontainers-java). Every container uses
# host networking; Ryuk is off and each test removes its own containers.
TC_ENV := TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 TESTCONTAINERS_RYUK_DISABLED=true WEIR_IMAGE=weir:$(IMAGE_TAG)
test-image: image
	$(TC_ENV) $(GO) test -tags image -count=1 -timeout 5m -v ./test/image/
	cd test/testcontainers && $(GO) vet ./... && $(TC_ENV) $(GO) test -count=1 -timeout 5m -v ./...
	cd examples/testcontainers-java && $(TC_ENV) mvn -B -ntp test

test-unit:
	$(GO) test -race -count=1 -timeout 15m $(UNIT_PKGS)

services-up:
	bash test/services/all.sh start

services-down:
	bash test/services/all.sh stop

test-services: services-up
	$(GO) test -tags services -count=1 -timeout 10m ./test/services/...

# Every connector against its real system, the acceptance kit
# (connectors/conformance) included; the kit runs the bin/weir built here.
test-connectors: services-up build
	WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags services -count=1 -timeout 20m ./connectors/...

# The long variants of the connector tests (WEIR_TEST_LONG=1: e.g. the
# Elasticsearch sink's 200,000-record kill -9 run); RUN narrows them. Then 25 kill -9 rounds of the
# replicated cluster (test/cluster).
test-long: services-up build
	WEIR_TEST_LONG=1 WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags services -count=1 -timeout 30m ./connectors/... $(if $(RUN),-run '$(RUN)')
	WEIR_CLUSTER_ROUNDS=25 WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags cluster -count=1 -v -timeout 30m -run '^TestClusterKillLeaderRounds$$' ./test/cluster/

# The connector runtime is a plain Kafka client: run its suite once more with
# Apache Kafka 4.x (test/services/kafka.sh) as the log instead of weir.
test-runtime-kafka: services-up
	WEIR_TEST_KAFKA=127.0.0.1:$${WEIR_KAFKA_PORT:-19092} $(GO) test -race -count=1 -timeout 10m ./runtime/...

test-compat: build
	bash test/compat/run.sh

# Replication under faults (issue 10): 3-node weir clusters, kill -9, SIGSTOP,
# network partitions between network namespaces (needs root), the Jepsen-style
# checker (test/cluster). Its unit tests (checker, nemesis, one-node harness)
# run in test-unit; make test runs the core scenarios (test-cluster-core:
# about 4.5 minutes on 2 cores, plus franz-go's suite with KGO_TEST_RF=3,
# 1.5-7 minutes, nearly all of it TestGroupETL's acks=all round trips),
# test-long the kill -9 rounds 25 times.
test-cluster: build
	WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags cluster -count=1 -v -timeout 30m ./test/cluster/ $(if $(RUN),-run '$(RUN)')

CLUSTER_CORE := KillLeaderRounds|PauseLeader|PartitionLeader|KcatMetadata|FileStreamSurvivesKill|ConnectWaitsForStateTopicLeaders|KafkaTopicsDescribe|KafkaReassignPartitions|KafkaReassignCancel|KafkaLeaderElection|KafkaConsumerFetchesFromClosestReplica|FranzSuite
test-cluster-core: build
	WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags cluster -count=1 -v -timeout 25m -run '^TestCluster($(CLUSTER_CORE))$$' ./test/cluster/

bench: build
	bash test/bench/run.sh && bash test/bench/connect.sh && bash test/bench/stomp.sh && bash test/bench/storage.sh && bash test/bench/image.sh && bash test/bench/jdbc.sh && bash test/bench/cluster.sh
	$(MAKE) bench-connectors

# One records/s and MB/s row per connector from the acceptance kit's
# throughput hook (conformance.Throughput), end to end through weir serve.
bench-connectors: services-up build
	WEIR_BIN=$(CURDIR)/$(BIN) $(GO) test -tags services -count=1 -run '^$$' -bench 'Kit$$' -benchtime 1x ./connectors/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags services ./test/services/... ./connectors/...

# Short runs of every fuzz target (go test -fuzz takes one target at a time).
FUZZTIME ?= 15s
fuzz:
	@grep -rl --include='*_test.go' '^func Fuzz' . | while read f; do \
	  d=$$(dirname $$f); for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/func //'); do \
	    echo "== $$d $$t"; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$d || exit 1; done; done

clean:
	rm -rf bin weir-data connect-files
