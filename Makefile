# smolvm — build, test, install.
#   make                 build ./smolvm
#   make check           unit (ASan+UBSan), screen and e2e tests
#   make check-unit      unit tests only
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

PKGS := ncursesw libssh2 vterm libcjson libnl-3.0 libnl-route-3.0 libnftables openssl libsodium

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra $(if $(WERROR),-Werror)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -I. \
	-DSMOLVM_VERSION='"$(VERSION)"' $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS)
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread

SRCS := $(filter-out backend/main.c,$(wildcard backend/*.c net/*.c fs/*.c tui/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

# Normal build in build/, sanitizer build (for unit tests) in build-san/.
OBJS := $(SRCS:%.c=build/%.o)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_OBJS := $(SRCS:%.c=build-san/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build-san/tests/%)

.PHONY: all check check-unit check-screen check-e2e install clean bench bench-bins
# Keep the sanitizer objects between runs (make would delete them as intermediates).
.SECONDARY: $(SAN_OBJS)
all: smolvm

smolvm: build/backend/main.o $(OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

# The whole binary under ASan+UBSan, for running the screen and e2e tests against.
smolvm-san: build-san/backend/main.o $(SAN_OBJS)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LIBS)

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

build-san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

build-san/tests/%: tests/unit/%.c tests/unit/unit.h $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< $(SAN_OBJS) $(LIBS)

check-unit: $(UNIT_BINS)
	tests/run unit

check-screen: smolvm
	tests/run screen

check-e2e: smolvm
	tests/run e2e

check: smolvm $(UNIT_BINS)
	tests/run all

# Benchmark helpers link the same objects as the binary.
BENCH_BINS := $(patsubst bench/%.c,build/bench/%,$(wildcard bench/*.c))

build/bench/%: bench/%.c $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJS) $(LIBS)

bench-bins: $(BENCH_BINS)

bench: smolvm $(BENCH_BINS)
	bench/boot
	bench/proxy
	bench/files

install: smolvm
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/smolvm/themes \
		$(DESTDIR)$(PREFIX)/share/smolvm/fs/guest $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 smolvm $(DESTDIR)$(PREFIX)/bin/smolvm
	install -m 0644 themes/*.theme $(DESTDIR)$(PREFIX)/share/smolvm/themes/
	install -m 0755 fs/guest/* $(DESTDIR)$(PREFIX)/share/smolvm/fs/guest/
	install -m 0644 man/smolvm.1 $(DESTDIR)$(PREFIX)/share/man/man1/smolvm.1
	install -m 0644 man/smolvm-policy.5 $(DESTDIR)$(PREFIX)/share/man/man5/smolvm-policy.5

clean:
	rm -rf build build-san smolvm smolvm-san

-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) build/backend/main.d build-san/backend/main.d
