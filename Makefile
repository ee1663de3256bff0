# Convenience targets around cargo. `make install PREFIX=/opt/x` installs the
# library, header, pkg-config file and the LuaJIT binding.
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SOVER := $(word 1,$(subst ., ,$(VERSION))).$(word 2,$(subst ., ,$(VERSION)))
LIBDIR := $(DESTDIR)$(PREFIX)/lib
LUADIR := $(DESTDIR)$(PREFIX)/share/lua/5.1

.PHONY: all build test example install uninstall clean

all: build

build:
	cargo build --release

test:
	./scripts/test.sh

example:
	./scripts/example.sh

install: build
	install -d $(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(LUADIR)/cosocket
	install -m 755 target/release/libcosocket.so $(LIBDIR)/libcosocket.so.$(VERSION)
	ln -sf libcosocket.so.$(VERSION) $(LIBDIR)/libcosocket.so.$(SOVER)
	ln -sf libcosocket.so.$(SOVER) $(LIBDIR)/libcosocket.so
	install -m 644 target/release/libcosocket.a $(LIBDIR)/libcosocket.a
	install -m 644 include/cosocket.h $(DESTDIR)$(PREFIX)/include/cosocket.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' cosocket.pc.in > $(LIBDIR)/pkgconfig/cosocket.pc
	if [ -f bindings/lua/cosocket.lua ]; then \
	  install -m 644 bindings/lua/cosocket.lua $(LUADIR)/cosocket.lua; \
	  for f in bindings/lua/cosocket/*.lua; do [ -f "$$f" ] && install -m 644 "$$f" $(LUADIR)/cosocket/; done; \
	fi

uninstall:
	rm -f $(LIBDIR)/libcosocket.so* $(LIBDIR)/libcosocket.a $(LIBDIR)/pkgconfig/cosocket.pc
	rm -f $(DESTDIR)$(PREFIX)/include/cosocket.h
	rm -rf $(LUADIR)/cosocket $(LUADIR)/cosocket.lua

clean:
	cargo clean
