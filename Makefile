# make test is the whole check: it installs what the tests need, then runs
# every test with the race detector. CI runs it on a clean machine.
GO ?= go
export GATEHOUSE_TEST_STRICT = 1

.PHONY: test test-deps test-live vet fuzz bench build

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

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gatehouse ./cmd/gatehouse
