# Thin wrapper over CMake. The two commands of the quick start:
#   make demo   install missing packages, build, run the main job
#   make test   install missing packages, build, run every test (ctest)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
MAKEFLAGS += --no-print-directory
# Where `make install` puts troupe (DESTDIR is honoured too).
PREFIX ?= /usr/local

.PHONY: all deps configure build test demo asan bench format clean install

all: build

deps:
	@sh scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@sh scripts/demo.sh $(BUILD)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# tests/lsan.supp: leaks inside libnng 1.5.2 itself (see the file).
asan:
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		$(MAKE) --no-print-directory test BUILD=build-asan \
		CMAKE_FLAGS="$(CMAKE_FLAGS) -DTP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

bench: build
	@sh scripts/bench-vs-python.sh

# Headers, libtroupe (shared and static), troupe.pc, the CMake package and
# the programs into $(PREFIX): make install PREFIX=$$HOME/.local
install: build
	@cmake --install $(BUILD)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	@rm -rf build build-asan
