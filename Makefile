# Developer shortcuts. CI runs .ci/run, which does not need make.
# Recipes are plain POSIX sh, so they run under dash as under bash.

GO ?= go
# How long each fuzz target runs in `make fuzz`, in go test -fuzztime syntax
# (a duration such as 30s, or a count of runs such as 1000x).
FUZZTIME ?= 1m
# Extra flags for every fuzz run, e.g. FUZZFLAGS=-parallel=2 on a shared box.
FUZZFLAGS ?=
# Packages whose fuzz targets `make fuzz` runs.
FUZZPKGS ?= ./...

.PHONY: test fuzz vet build soak

# How long Loki stays down in `make soak`.
SOAKTIME ?= 10m

# test: the whole suite, as CI and the README run it.
test:
	$(GO) test ./...

# fuzz: every fuzz target in FUZZPKGS, one after another, FUZZTIME each.
# Targets are found with go test -list, so new ones are picked up without
# editing this file; -list prints a package's names before its "ok <pkg>"
# line. A target that fails stops the run, and go test saves the input that
# failed under that package's testdata/fuzz/<target>/ for a regression seed.
fuzz:
	@list=$$($(GO) test -list '^Fuzz' $(FUZZPKGS)) || { \
		printf '%s\n' "$$list" >&2; echo 'fuzz: listing the fuzz targets failed' >&2; exit 1; }; \
	targets=$$(printf '%s\n' "$$list" | awk ' \
		/^Fuzz/ { names = names " " $$1; next } \
		/^ok/ { n = split(names, name, " "); for (i = 1; i <= n; i++) print $$2 "," name[i]; names = "" }'); \
	if [ -z "$$targets" ]; then echo 'fuzz: no fuzz targets found' >&2; exit 1; fi; \
	for target in $$targets; do \
		pkg=$${target%,*}; name=$${target#*,}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test $(FUZZFLAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime '$(FUZZTIME)' "$$pkg" || exit 1; \
	done

# soak: issue 6's memory check. Loki is down for SOAKTIME while 2,000 osquery
# lines a second are written; the agent's RSS must stay flat (the backlog is in
# the spool) and every line must arrive once Loki is back.
soak:
	PROMTAIL_OSQUERY_SOAK=$(SOAKTIME) $(GO) test -count=1 -timeout 0 -v -run '^TestSoakLokiDownSpoolRSS$$' ./cmd/promtail-osquery/

# vet: go vet over every package.
vet:
	$(GO) vet ./...

# Build tags for `make build`, e.g. TAGS=no_kubernetes_sd (see README.md).
TAGS ?=

# build: the agent binary, into bin/ (ignored by git): static and without
# cgo, as Promtail's releases are. Linking libc costs 1.5 MiB of resident
# memory for nothing the default build uses; the journal target, which needs
# cgo, is built with its tag (see README.md).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -o bin/promtail-osquery ./cmd/promtail-osquery
