# segsync — plain Makefile. `make` builds, `make test` runs every test,
# `make check-asan` runs them under ASan+UBSan, `make deps` installs packages.
CC      ?= cc
PKGS    := liburing libxxhash libzstd libpq libcrypto
CFLAGS  ?= -O2 -g
SAN     ?=
# The project's own flags live apart from CFLAGS so that `make CFLAGS=...`
# (as check-asan does) adds to them instead of replacing them.
ALL_CFLAGS = $(CFLAGS) $(SAN) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -I. \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libpq: headers only; it is loaded at run time when a server is reached
# (engine/pg/pqlib.h).
LDLIBS  += $(SAN) $(shell pkg-config --libs $(filter-out libpq,$(PKGS)) 2>/dev/null) -ldl -pthread
BUILD   ?= build

ENGINE_SRC := $(wildcard engine/*.c engine/pg/*.c engine/net/*.c engine/recovery/*.c)
CLI_SRC    := $(wildcard cli/*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libsegsync.a
BIN        := $(BUILD)/segsync
TOOLS      := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
UNITS      := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all deps test unit integration check-asan fuzz clean demo bench

all: $(BIN) $(TOOLS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@echo "  LD  $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(LIB) \
	    $(shell pkg-config --libs cmocka) $(LDLIBS)

deps:
	@sh tests/deps.sh

unit: $(UNITS)
	@sh tests/run_unit.sh $(UNITS)

integration: all
	@sh tests/run_integration.sh $(BUILD)

test: all unit integration

# Sanitizer build lives in its own tree so it never mixes with the normal one.
# The agent paths run over the pipe here; TCP and ssh add only their
# transports, which t_agent_tcp / t_agent_ssh cover under ASan anyway.
check-asan:
	SS_VIAS="local pipe" $(MAKE) BUILD=build-asan CFLAGS="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	@sh tests/run_fuzz.sh $(FUZZ_SRC)

demo:
	@bash tests/demo.sh

bench: all
	@echo "see bench/README.md"

clean:
	rm -rf build build-asan build-fuzz

-include $(ENGINE_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
