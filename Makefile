# cryptstore's front door.  The real build is Meson + Ninja; this file only
# installs what is missing, configures the build directories and runs things.
#
#   make            build (build/)
#   make check      install deps, build, run every test (plain and ASan+UBSan)
#   make asan       build and test under ASan+UBSan only (build-asan/)
#   make bench      build optimised (build-release/) and run the benchmarks
#   make format     clang-format the tree in place
#   make clean      remove the build directories

MESON ?= meson
NINJA ?= ninja

.PHONY: all build check asan bench format clean deps deps-check

all: build

deps:
	@sh tools/deps.sh

deps-check:
	@sh tools/deps.sh --check

build/build.ninja:
	$(MESON) setup build --buildtype=debugoptimized

build-asan/build.ninja:
	$(MESON) setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build-release/build.ninja:
	$(MESON) setup build-release --buildtype=release

build: deps build/build.ninja
	$(NINJA) -C build

check: deps-check build/build.ninja build-asan/build.ninja
	$(NINJA) -C build
	$(NINJA) -C build-asan
	@python3 tests/run.py build build-asan

asan: deps-check build-asan/build.ninja
	$(NINJA) -C build-asan
	@python3 tests/run.py build-asan

bench: deps build-release/build.ninja
	$(NINJA) -C build-release
	build-release/bench/aestest

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-release
