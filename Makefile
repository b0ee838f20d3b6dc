# make test is the whole check: it installs what the tests need, then runs
# every test with the race detector. CI runs it on a clean machine.
GO ?= go
export GATEHOUSE_TEST_STRICT = 1

.PHONY: test test-deps test-live vet fuzz bench build release image

# The version stamped into binaries and the image: `gatehouse version`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS = -s -w -X main.version=$(VERSION)

test: test-deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

# Each script in scripts/deps.d installs one thing the tests need, if missing.
test-deps:
	@bash scripts/test-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

# The one test that touches the internet: the public Go module proxy.
test-live:
	GATEHOUSE_LIVE=1 $(GO) test -count=1 -run Live -v ./internal/integration/

# Longer fuzzing than the seed corpus that make test runs.
FUZZTIME ?= 60s
fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

BUILD_OUT ?= bin/gatehouse
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD_OUT) ./cmd/gatehouse

# Static binaries for each platform, named gatehouse-$(VERSION)-OS-ARCH, and
# their SHA256SUMS (check with: cd dist/release && sha256sum -c SHA256SUMS).
RELEASE_DIR ?= dist/release
PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64
release:
	@rm -rf $(RELEASE_DIR) && mkdir -p $(RELEASE_DIR)
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=gatehouse-$(VERSION)-$$os-$$arch; \
	  echo "== $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(RELEASE_DIR)/$$out ./cmd/gatehouse; \
	done
	cd $(RELEASE_DIR) && sha256sum gatehouse-* > SHA256SUMS

# The container image gatehouse:dev (DOCKER_HOST is honoured by docker).
# It builds only the Dockerfile's final stage, FROM scratch, from a binary
# built here: the build stage's golang image must be pulled from a
# registry, and none is reachable from this machine or from CI. The final
# stage is cut out of the Dockerfile, with its COPY --from=build /rootfs*
# reading rootfs* of the context instead, so both builds make one image.
IMAGE ?= gatehouse:dev
IMAGE_CONTEXT ?= bin/image
image:
	@rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs $(IMAGE_CONTEXT)/rootfs-data/data
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_CONTEXT)/rootfs/gatehouse ./cmd/gatehouse
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs/
	echo 'gatehouse:x:65532:65532:gatehouse:/data:/nonexistent' > $(IMAGE_CONTEXT)/rootfs/etc/passwd
	echo 'gatehouse:x:65532:' > $(IMAGE_CONTEXT)/rootfs/etc/group
	sed -n '/^FROM scratch AS final/,$$p' Dockerfile | sed 's|--from=build /rootfs|rootfs|' > $(IMAGE_CONTEXT)/Dockerfile
	@! grep -q -- '--from=' $(IMAGE_CONTEXT)/Dockerfile || { echo 'make image: the final stage still copies from another stage'; exit 1; }
	DOCKER_BUILDKIT=0 docker build -q -t $(IMAGE) $(IMAGE_CONTEXT)
