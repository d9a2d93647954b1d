# graphcomm: build, test and demo.  `make LUA=luajit` (or lua5.1, lua5.3) picks the Lua.
LUA        ?= lua5.4
PKG_LUA    := $(if $(filter luajit,$(LUA)),luajit,$(LUA))
LUA_INCDIR ?= $(patsubst -I%,%,$(firstword $(shell pkg-config --cflags-only-I $(PKG_LUA) 2>/dev/null)))
CC         ?= cc
CFLAGS     ?= -O2 -g
WARN       := -std=c99 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
              -Wdeclaration-after-statement -Wno-unused-parameter
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
LIBFLAG    ?= -shared
SANITIZE   ?=
PREFIX     ?= /usr/local
DESTDIR    ?=
LUA_VER    := $(if $(filter luajit,$(LUA)),5.1,$(patsubst lua%,%,$(LUA)))
LUA_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VER)
LUA_SHAREDIR ?= $(PREFIX)/share/lua/$(LUA_VER)
EMULATOR_DIR ?= $(PREFIX)/share/graphcomm/emulator
BUSTED     ?= /usr/bin/busted
# make install: the editor types' folder, and the interpreter the installed command starts.
TYPES_DIR  ?= $(LUA_SHAREDIR)/graphcomm/types
MAN_DIR    ?= $(PREFIX)/share/man/man1
COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
SHEBANG    ?= /usr/bin/env $(LUA)
# The version's one home is lua/graphcomm/version.lua.
VERSION    := $(shell sed -n 's/^return "\([^"]*\)".*/\1/p' lua/graphcomm/version.lua)
DIST       := graphcomm-$(VERSION)
DIST_DIR   ?= .

BUILD  := build/$(LUA)$(if $(SANITIZE),-san)
SRCS   := $(wildcard csrc/*/*.c)
OBJS   := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(SRCS))
MODULE := $(BUILD)/graphcomm/core.so
ALL_CFLAGS := $(WARN) $(CFLAGS) $(SANITIZE) -fPIC -fvisibility=hidden -D_POSIX_C_SOURCE=200809L \
              -Icsrc -I$(LUA_INCDIR) $(CURL_CFLAGS)

.PHONY: all deps check check-lua check-asan check-valgrind demo bench fuzz install uninstall dist \
        types rockspec clean
all: $(MODULE)

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(SANITIZE) -o $@ $(OBJS) $(CURL_LIBS) -lcrypto -lz

$(BUILD)/obj/%.o: csrc/%.c $(wildcard csrc/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

deps:
	@scripts/deps check

# One Lua's specs against the in-tree build (the spec helpers start the emulator).
check-lua: $(MODULE)
	GRAPHCOMM_BUILD=$(BUILD) $(LUA) $(BUSTED) --lua=$(LUA) -o utfTerminal spec

check: deps
	@scripts/check

check-asan:
	@scripts/check asan

check-valgrind:
	@scripts/check valgrind

demo:
	@scripts/deps demo
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench:
	@scripts/deps bench
	@$(MAKE) --no-print-directory all
	@scripts/bench

fuzz:
	@scripts/fuzz $${FUZZ_SECONDS:-60}

install: $(MODULE)
	install -d $(DESTDIR)$(LUA_LIBDIR)/graphcomm $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/cli $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(MODULE) $(DESTDIR)$(LUA_LIBDIR)/graphcomm/core.so
	install -m 0644 lua/graphcomm.lua $(DESTDIR)$(LUA_SHAREDIR)/graphcomm.lua
	install -m 0644 lua/graphcomm/*.lua $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/
	install -m 0644 lua/graphcomm/cli/*.lua $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/cli/
	install -d $(DESTDIR)$(MAN_DIR) $(DESTDIR)$(COMPLETION_DIR)
	install -m 0644 man/graphcomm.1 $(DESTDIR)$(MAN_DIR)/graphcomm.1
	install -m 0644 man/graphcomm.bash $(DESTDIR)$(COMPLETION_DIR)/graphcomm
	sed '1s|^#!.*|#!$(SHEBANG)|' bin/graphcomm >$(DESTDIR)$(PREFIX)/bin/graphcomm.tmp
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/graphcomm.tmp
	mv -f $(DESTDIR)$(PREFIX)/bin/graphcomm.tmp $(DESTDIR)$(PREFIX)/bin/graphcomm
	install -d $(DESTDIR)$(TYPES_DIR)
	install -m 0644 types/* $(DESTDIR)$(TYPES_DIR)/
	install -d $(DESTDIR)$(EMULATOR_DIR)/lua/graphcomm_emulator $(DESTDIR)$(EMULATOR_DIR)/fixtures \
	  $(DESTDIR)$(EMULATOR_DIR)/reference
	install -m 0755 emulator/start emulator/stop $(DESTDIR)$(EMULATOR_DIR)/
	install -m 0644 emulator/nginx.conf.in $(DESTDIR)$(EMULATOR_DIR)/
	install -m 0644 emulator/fixtures/callrecords.json emulator/fixtures/generate.lua $(DESTDIR)$(EMULATOR_DIR)/fixtures/
	install -m 0644 emulator/lua/graphcomm_emulator/*.lua $(DESTDIR)$(EMULATOR_DIR)/lua/graphcomm_emulator/
	install -m 0644 reference/graph-v1.0-callrecords.csdl.xml reference/differences.lua \
	  reference/graph-metadata.LICENSE $(DESTDIR)$(EMULATOR_DIR)/reference/

# Removes what `make install` (same LUA, PREFIX and DESTDIR) put there, and the folders
# it made when they are left empty.
uninstall:
	rm -f $(DESTDIR)$(LUA_LIBDIR)/graphcomm/core.so $(DESTDIR)$(LUA_SHAREDIR)/graphcomm.lua \
	      $(addprefix $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/,$(notdir $(wildcard lua/graphcomm/*.lua))) \
	      $(addprefix $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/cli/,$(notdir $(wildcard lua/graphcomm/cli/*.lua))) \
	      $(DESTDIR)$(MAN_DIR)/graphcomm.1 $(DESTDIR)$(COMPLETION_DIR)/graphcomm \
	      $(addprefix $(DESTDIR)$(TYPES_DIR)/,$(notdir $(wildcard types/*))) \
	      $(DESTDIR)$(PREFIX)/bin/graphcomm
	rm -rf $(DESTDIR)$(EMULATOR_DIR)
	rmdir $(DESTDIR)$(TYPES_DIR) $(DESTDIR)$(LUA_SHAREDIR)/graphcomm/cli $(DESTDIR)$(LUA_SHAREDIR)/graphcomm $(DESTDIR)$(LUA_LIBDIR)/graphcomm \
	       $(dir $(DESTDIR)$(EMULATOR_DIR)) 2>/dev/null || true

# The source tarball graphcomm-$(VERSION)-1.rockspec builds from, into DIST_DIR: the
# tracked files as they are in the working tree (git stash create; HEAD when unchanged).
dist:
	@tree=$$(git stash create) && git archive --format=tar.gz --prefix=$(DIST)/ \
	  -o $(DIST_DIR)/$(DIST).tar.gz $${tree:-HEAD} && echo $(DIST_DIR)/$(DIST).tar.gz

# Generated files, kept in git (specs fail when they are stale).
types: $(MODULE)
	GRAPHCOMM_BUILD=$(BUILD) $(LUA) scripts/gen-types.lua types

rockspec:
	$(LUA) scripts/gen-rockspec.lua

clean:
	rm -rf build
