# Makefile for recs, the recommendation-scoring service.
#
#   make            build/recs (the server) and the tools beside it
#   make run        install what is missing, build, start a throwaway
#                   PostgreSQL with the demo catalog, serve on :8080
#   make test       the whole test suite (unit, valgrind, sanitizers,
#                   integration against a real PostgreSQL)
#   make bench      kernel microbenchmark and HTTP benchmark
#   make format     clang-format every source file
#
# SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer into
# build/asan instead of build; SANITIZE=thread with ThreadSanitizer into
# build/tsan.

CC      ?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD   ?= build/asan
else ifeq ($(SANITIZE),thread)
BUILD   ?= build/tsan
else
BUILD   ?= build
endif

PKGS    := libmicrohttpd jansson libpq
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wvla
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fopenmp $(WARN) \
           -DRECS_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += -fopenmp -pie -Wl,-z,relro,-z,now
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZE),thread)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
else
CFLAGS  += $(HARDEN)
endif

SRC      := $(wildcard src/*.c)
OBJ      := $(SRC:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJ  := $(filter-out $(BUILD)/obj/main.o,$(OBJ))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration_%)
TOOL_SRC := $(wildcard bench/*.c)
TOOL_BIN := $(TOOL_SRC:bench/%.c=$(BUILD)/%)

.PHONY: all run test unit bench fuzz soak overload hostile e2e deploy-check format lint deps clean
all: $(BUILD)/recs $(UNIT_BIN) $(INTEG_BIN) $(TOOL_BIN)

# The hashing and comparison kernels are the hot loop: give them -O3.
$(BUILD)/obj/minhash.o $(BUILD)/obj/minhash_kernels.o: CFLAGS += -O3

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/recs: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/integration_%: tests/integration/%.c tests/integration/harness.c \
		tests/integration/harness.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< tests/integration/harness.c $(LDLIBS) -lcmocka

$(BUILD)/%: bench/%.c $(LIB_OBJ) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD) $(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# The allocation-failure injector tests/integration/test_faults.c preloads
# into build/recs (own flags: never sanitized).
$(BUILD)/tests/failmalloc.so: tests/integration/failmalloc.c | $(BUILD)/tests
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE $(WARN) -fPIC -shared -o $@ $< -ldl
all: $(BUILD)/tests/failmalloc.so

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@scripts/run-demo.sh $(BUILD)/recs

# The README's test command: everything, from a fresh machine.
test: deps
	@scripts/test.sh

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

bench: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh

# Coverage-guided fuzzing of the request path (FUZZ_SECONDS per harness).
fuzz: deps
	@tests/fuzz/run.sh

# Ten minutes of steady load: RSS and file descriptors must stay flat.
soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@scripts/soak.sh

# Four times the connections the service admits, then back to normal.
overload: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@scripts/overload.sh

# slowhttptest's four attacks while a normal client must still be served.
hostile: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@scripts/hostile.sh

# The storefront demo page in headless Chromium.
e2e: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@tests/e2e/run.sh

# The container build stage and runtime command, manifests and unit files,
# alerting rules and dashboard (against a scrape of build/recs).
deploy-check: deps
	@$(MAKE) --no-print-directory $(BUILD)/recs
	@tests/deploy/check.sh

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/integration/*.c tests/integration/*.h \
		bench/*.c

# clang-format, cppcheck and clang-tidy; make test runs it too.
lint:
	@scripts/lint.sh

clean:
	rm -rf build

-include $(OBJ:.o=.d)
