# cryptstore's front door.  The real build is Meson + Ninja; this file only
# installs what is missing, configures the build directories and runs things.
#
#   make            build (build/)
#   make run        install deps, build, start cryptstored with a demo setup in run/
#   make check      install deps, build, run every test (plain and ASan+UBSan), the
#                   integration tests against a TSan build of the threaded server and
#                   the threaded unit tests (suite 'threads') in that build, and every
#                   libFuzzer target for 40 s (build-fuzz/, clang)
#   make asan       build and test under ASan+UBSan only (build-asan/)
#   make bench      build optimised (build-release/) and run the benchmarks: aestest, then
#                   bench-peers and bench-clients (about 15 min; docs/BENCHMARKS.md)
#   make bench-peers    cryptstored against iperf3, nc|openssl, nginx, gocryptfs (~7 min)
#   make bench-clients  MB/s against 1/10/100 clients per suite and server model, PNGs (~5 min)
#   make bench-shred   key shred against shred -n1 of 10 GiB on the real disk
#   make bench-tls  the server over HTTP and over HTTPS (TLS 1.3), loadgen, interleaved rounds
#   make paper      the original paper's experiments re-run: AES user vs kernel in a qemu VM,
#                   storage, network, server models, openssl speed (docs/PAPER.md; 13 min quiet, ~23 loaded)
#   make soak       the crash loop: 200 rounds of kill -9 during 100 uploads (~12 min, /var/tmp)
#   make valgrind   memcheck over every unit test (~6 min)
#   make fuzz       fuzz every parser FUZZ_SECONDS (600) each (build-fuzz/, clang + ASan/UBSan)
#   make format     clang-format the tree in place
#   make clean      remove the build directories

FUZZ_TARGETS = http sigv4 awschunked s3xml label format keystore objmeta audit cli_xml
MESON ?= meson
NINJA ?= ninja

.PHONY: all build run check asan bench bench-peers bench-clients bench-shred bench-tls paper soak valgrind fuzz format clean deps deps-check deps-run deps-paper

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

# The embedded default: everything under run/ (data, keystore, root key), levels
# s0..s3, a bucket per level and a test identity whose keys are printed.  For a
# real deployment keep the root key off the data disk (docs/SECURITY.md).
RUN_DIR ?= run
PORT ?= 9000
run: deps-run build/build.ninja
	$(NINJA) -C build
	@mkdir -p $(RUN_DIR) && chmod 700 $(RUN_DIR)
	build/server/cryptstored --port $(PORT) --data-dir $(RUN_DIR)/data \
		--keys-dir $(RUN_DIR)/keys --root-key $(RUN_DIR)/root.key \
		--init-demo true --credentials-file $(RUN_DIR)/credentials \
		--admin-socket $(RUN_DIR)/admin.sock --audit-dir $(RUN_DIR)/audit

deps-run:
	@sh tools/deps.sh --run

# check reconfigures, so that a tree first built by `make run` (without the test
# packages) picks up cmocka and python3 once deps-check has installed them.
check: deps-check
	if [ -f build/build.ninja ]; then $(MESON) setup --reconfigure build; \
	else $(MESON) setup build --buildtype=debugoptimized; fi
	if [ -f build-asan/build.ninja ]; then $(MESON) setup --reconfigure build-asan; \
	else $(MESON) setup build-asan --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false; fi
	if [ -f build-tsan/build.ninja ]; then $(MESON) setup --reconfigure build-tsan; \
	else $(MESON) setup build-tsan --buildtype=debug -Db_sanitize=thread -Db_lundef=false; fi
	if [ -f build-fuzz/build.ninja ]; then $(MESON) setup --reconfigure build-fuzz; \
	else CC=clang $(MESON) setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false; fi
	$(NINJA) -C build
	$(NINJA) -C build-asan
	$(NINJA) -C build-tsan
	$(NINJA) -C build-fuzz $(addprefix tests/fuzz/fuzz_,$(FUZZ_TARGETS))
	@python3 tests/run.py build build-asan:!rados_clients build-tsan:integration build-tsan:threads \
		build-fuzz:fuzzci

asan: deps-check build-asan/build.ninja
	$(NINJA) -C build-asan
	@python3 tests/run.py build-asan

bench: deps build-release/build.ninja
	$(NINJA) -C build-release
	build-release/bench/aestest
	bash bench/peers.sh --runs 5 --build build-release
	bash bench/clients.sh --runs 3 --build build-release

bench-peers: deps build-release/build.ninja
	$(NINJA) -C build-release
	bash bench/peers.sh --runs 5 --build build-release

bench-clients: deps build-release/build.ninja
	$(NINJA) -C build-release
	bash bench/clients.sh --runs 3 --build build-release

# Key shred against `shred -n1` of the same data: writes 10 GiB under /var/tmp (real disk).
bench-shred: deps-check build-release/build.ninja
	$(NINJA) -C build-release
	/usr/bin/python3 bench/shredbench.py --build build-release

# The paper's experiments (docs/PAPER.md): the AES table in Debian's kernel under qemu, then
# the storage, network, server-model and openssl-speed tables with their PNGs (docs/paper/).
paper: deps-paper build-release/build.ninja
	$(NINJA) -C build-release
	bash bench/paper/vm.sh
	bash bench/paper/tables.sh --build build-release

deps-paper:
	@sh tools/deps.sh --paper

# The cost of TLS: one server binary over HTTP and over HTTPS, same workloads (about 1 min).
bench-tls: deps build-release/build.ninja
	$(NINJA) -C build-release
	bash bench/tlsbench.sh --build build-release

# valgrind memcheck over every unit test (about 6 minutes on 2 cores): 0 errors, 0 leaks.
valgrind: deps-check build/build.ninja
	$(NINJA) -C build
	$(MESON) test -C build --suite unit --num-processes 2 --timeout-multiplier 10 \
		--wrap='valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect -q'

FUZZ_SECONDS ?= 600
build-fuzz/build.ninja:
	CC=clang $(MESON) setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
fuzz: deps-check build-fuzz/build.ninja
	$(NINJA) -C build-fuzz
	$(MESON) test -C build-fuzz --suite fuzz
	sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

soak: deps-check build/build.ninja
	$(NINJA) -C build
	/usr/bin/python3 tests/integration/crash_test.py build/server/cryptstored --rounds 200

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-release build-fuzz

# make distclean also forgets run/'s data and keys: every object in it is lost.
distclean: clean
	rm -rf $(RUN_DIR)
