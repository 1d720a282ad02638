# diskless — see README.md. `make demo` and `make test` are the two commands a
# newcomer runs; everything else is for developers and packagers.
GO       ?= go
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/diskless-project/diskless/cmd/cli.Version=$(VERSION)
# Man pages carry the date of the last change to the commands, so
# regenerating them without a change leaves the committed files identical.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct -- cmd 2>/dev/null || echo 0)
# staticcheck 2026.2.2; the module proxy has no @latest for it, so pin it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN      := bin/diskless
DEMO_ROOT ?= $(CURDIR)/demo-root

.PHONY: all build test lint demo bench fuzz install install-services man completions e2e clean deb

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/diskless

# All tests. Tests needing root or Debian packages skip with a message when
# those are missing; CI (.ci/run) installs them so every test runs there.
test:
	$(GO) test -count=1 -timeout 25m ./...

# Every fuzz target (found by name: func FuzzX in a _test.go), FUZZTIME each;
# CI runs a short pass (.ci/run). Seeds are in the targets (f.Add); inputs
# that failed once are kept in testdata/fuzz/ and rerun by `make test`.
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

# The boot proof alone: QEMU network-boots a BIOS and a UEFI slave through
# diskless (root and the Debian packages in .ci/run needed; see docs/e2e.md).
e2e:
	$(GO) test -count=1 -timeout 15m -v -run '^TestBoot$$' ./internal/e2e/

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: build
	DEMO_ROOT=$(DEMO_ROOT) BIN=$(CURDIR)/$(BIN) bash scripts/demo.sh

# Go micro-benchmarks, then (as root) the side-by-side run of cmd/bench:
# diskless serve beside tftp-hpa, dnsmasq, atftpd and perfdhcp in network
# namespaces, and the QEMU boot times per firmware and boot path beside
# dnsmasq (BenchmarkBoot, 15-30 minutes; docs/firmware.md). BENCH_FLAGS=-quick
# for a smoke run of cmd/bench; see docs/performance.md.
BENCH_FLAGS ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ "$$(id -u)" = 0 ]; then $(GO) run ./cmd/bench $(BENCH_FLAGS) && \
	DISKLESS_BENCH_BOOT=1 $(GO) test -count=1 -run '^$$' -bench '^BenchmarkBoot$$' -benchtime 1x -timeout 90m -v ./internal/e2e/; \
	else echo "bench: not root: skipping the side-by-side benchmarks (they need network namespaces): sudo make bench"; fi

man:
	rm -rf docs/man
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run -ldflags '-X github.com/diskless-project/diskless/cmd/cli.Version=$(VERSION)' ./cmd/gendocs man docs/man

completions: build
	mkdir -p docs/completions
	$(BIN) completion bash > docs/completions/diskless.bash
	$(BIN) completion zsh > docs/completions/_diskless
	$(BIN) completion fish > docs/completions/diskless.fish

install: build man completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/diskless
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 0644 docs/completions/diskless.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/diskless
	install -D -m 0644 docs/completions/_diskless $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_diskless
	install -D -m 0644 docs/completions/diskless.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/diskless.fish
	$(MAKE) install-services

# The service files, their @BINDIR@ set to where `install` put the binary.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
install-services:
	install -d $(DESTDIR)/etc/init.d $(DESTDIR)/etc/conf.d $(DESTDIR)/etc/logrotate.d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' scripts/openrc/diskless-serve.initd > $(DESTDIR)/etc/init.d/diskless-serve
	chmod 0755 $(DESTDIR)/etc/init.d/diskless-serve
	sed 's|@BINDIR@|$(PREFIX)/bin|g' scripts/openrc/diskless-serve.confd > $(DESTDIR)/etc/conf.d/diskless-serve
	sed 's|@BINDIR@|$(PREFIX)/bin|g' scripts/systemd/diskless-serve.service > $(DESTDIR)$(SYSTEMDUNITDIR)/diskless-serve.service
	install -m 0644 scripts/logrotate/diskless-serve $(DESTDIR)/etc/logrotate.d/diskless-serve

# A Debian package (dpkg-deb, from `make install PREFIX=/usr`): bin/diskless_<v>_<arch>.deb.
deb:
	VERSION=$(VERSION) GO=$(GO) sh packaging/debian/build.sh

clean:
	rm -rf bin $(DEMO_ROOT)
