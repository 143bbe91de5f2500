# tokengate: the two commands (make run, make test) and their parts.
# Every target installs what is missing first (scripts/setup.sh is idempotent).

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CLANG_BUILD ?= build-clang
JOBS       ?= $(shell nproc)
RUN_PORT   ?= 8080
SIM_PORT   ?= 9090

# ccache: share compiled objects between clones of the repository (paths made relative, the
# working directory left out of the hash of -g builds).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all setup build build-asan build-tsan build-clang run test test-unit test-integration test-asan \
        test-tsan bench clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_SANITIZE=ON -DTG_BENCH=OFF

build-asan: setup $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD) -j $(JOBS)

$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_TSAN=ON -DTG_BENCH=OFF \
	  -DTG_UNIT_TESTS=OFF

# Only the two programs: the TSan pass runs the integration tests against them.
build-tsan: setup $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) -j $(JOBS) tokengate tokengate-sim

$(CLANG_BUILD)/build.ninja:
	CXX=clang++ cmake -S . -B $(CLANG_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTG_BENCH=OFF \
	  -DTG_UNIT_TESTS=OFF

# Clang with -Wthread-safety: the lock annotations checked at compile time. Only the modules
# (every library the gateway links): the analysis runs per translation unit, and the tests and
# programs hold no locks of their own.
build-clang: setup $(CLANG_BUILD)/build.ninja
	ninja -C $(CLANG_BUILD) -j $(JOBS) tg_app

# Starts the simulated LLM upstream and tokengate in front of it; Ctrl-C stops both.
run: build
	@bash scripts/run.sh $(BUILD) $(RUN_PORT) $(SIM_PORT)

# Every test: unit + integration + SDK compatibility on the optimised build, the same again
# under AddressSanitizer + UndefinedBehaviorSanitizer, the integration tests under
# ThreadSanitizer, and the lock annotations checked by Clang's -Wthread-safety (build-clang).
test: build build-asan build-tsan build-clang
	@TSAN_BUILD=$(TSAN_BUILD) bash scripts/test.sh $(BUILD) $(ASAN_BUILD)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-integration: build
	TOKENGATE_BIN=$(BUILD)/tokengate TOKENGATE_SIM_BIN=$(BUILD)/tokengate-sim \
	  node --test --test-concurrency=1 tests/integration/ tests/compat/

test-asan: build-asan
	bash scripts/test.sh "" $(ASAN_BUILD)

test-tsan: build-tsan
	bash scripts/test.sh "" $(TSAN_BUILD)

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(CLANG_BUILD)
