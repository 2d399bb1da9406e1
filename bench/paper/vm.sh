#!/bin/bash
# bench/paper/vm.sh: the original paper's aestest, user space against kernel space.
#
# The paper ran one table-based C AES-256-CBC loop (a 1 KiB buffer encrypted and
# decrypted 1,000,000 times) in a user process and in a kernel module read through
# /proc/aestest.  This machine cannot load modules and has no KVM, so the kernel half
# runs in Debian's own kernel booted under QEMU in software emulation (TCG):
#
#   1. build the module (bench/paper/kmod, against linux-headers-amd64) and a static
#      paper_aestest (bench/paper/aes) with a plain gcc line;
#   2. pack both into a busybox initramfs, with aesni-intel and the modules it needs
#      (cryptd, crypto_simd) from the installed linux-image, so that the guest's
#      crypto API has its accelerated driver;
#   3. boot it twice.  First with the guest clock on real time: a warm-up, then
#      PAIR_ROUNDS rounds of the paper's pair alone (the portable C loop as a user
#      process, then as a `dd bs=1 count=1 if=/proc/aestest` read, the order
#      alternating by round), then VM_RUNS rounds of every row.  Then with QEMU's
#      -icount shift=0, where the guest clock advances 1 ns per guest instruction:
#      every row again, which turns the timings into instruction counts that the
#      host's load cannot disturb;
#   4. run the same static binary natively (the real CPU, user space only), and
#      `openssl speed -evp aes-256-cbc` at 1 KiB as the paper did;
#   5. write the tables to bench/paper/out/aes.md and print them.
#
# Emulated figures compare rows of the same boot only: TCG translates every guest
# instruction (AES-NI included) into host code, so neither the absolute MB/s nor the
# table-vs-AES-NI ratios say anything about real hardware.  The VM loop is shorter
# than the paper's (VM_COUNT, default 10,000 iterations = 20 MB each way per row; the
# emulated portable loop runs at ~1/20 of native speed); its times are also shown
# scaled to 10^6 iterations.  Whole run: about 6-9 minutes on 2 shared cores.
#
# Environment: VM_COUNT (10000), PAIR_ROUNDS (8), VM_RUNS (3), ICOUNT_COUNT (500),
# ICOUNT_RUNS (2), NATIVE_COUNT (1000000), NATIVE_RUNS (3), KVER (the newest
# /lib/modules/*/build), VM_TIMEOUT (900 s per boot), NO_INSTALL=1 (never apt-get
# missing packages).  Needs: gcc, make, libssl-dev, libipsec-mb-dev,
# linux-headers-amd64, linux-image-amd64, qemu-system-x86, busybox-static, cpio,
# python3.  Exit status: 0, 1 on any failure (a failed build, boot or check).
set -euo pipefail

ME=vm.sh
PAPER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PAPER_DIR/../.." && pwd)
OUT=$PAPER_DIR/out
VM_COUNT=${VM_COUNT:-10000}
VM_RUNS=${VM_RUNS:-3}
PAIR_ROUNDS=${PAIR_ROUNDS:-8}
ICOUNT_COUNT=${ICOUNT_COUNT:-500}
ICOUNT_RUNS=${ICOUNT_RUNS:-2}
NATIVE_COUNT=${NATIVE_COUNT:-1000000}
NATIVE_RUNS=${NATIVE_RUNS:-3}
VM_TIMEOUT=${VM_TIMEOUT:-900}
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

note() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() {
	note "$*"
	exit 1
}
elapsed() { echo $(($(date +%s) - T_START)); }

case "${1:-}" in
-h | --help)
	sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*) die "unknown argument '$1' (try --help)" ;;
esac
[[ $VM_COUNT =~ ^[0-9]+$ && $VM_COUNT -ge 100 ]] || die "VM_COUNT must be >= 100"
[[ $NATIVE_COUNT =~ ^[0-9]+$ && $NATIVE_COUNT -ge 100 ]] || die "NATIVE_COUNT must be >= 100"
[[ $VM_RUNS =~ ^[0-9]+$ && $VM_RUNS -ge 1 && $NATIVE_RUNS =~ ^[0-9]+$ && $NATIVE_RUNS -ge 1 ]] ||
	die "VM_RUNS and NATIVE_RUNS must be >= 1"

# --- prerequisites ----------------------------------------------------------------
need_pkgs=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$1"); }
for p in gcc make libssl-dev libipsec-mb-dev linux-headers-amd64 linux-image-amd64 \
	qemu-system-x86 busybox-static cpio python3; do
	want "$p"
done
if ((${#need_pkgs[@]})); then
	if [[ -z ${NO_INSTALL:-} ]] && ((EUID == 0)) && command -v apt-get >/dev/null; then
		note "installing ${need_pkgs[*]}"
		apt-get update -qq >/dev/null 2>&1 || note "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
	else
		die "missing packages: ${need_pkgs[*]} (apt-get install --no-install-recommends ...)"
	fi
fi
if [[ -z ${KVER:-} ]]; then
	kb=$(printf '%s\n' /lib/modules/*/build | sort -V | tail -1)
	[[ -d $kb ]] || die "no kernel headers under /lib/modules/*/build"
	KVER=$(basename "$(dirname "$kb")")
fi
VMLINUZ=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[[ -r $VMLINUZ ]] || die "$VMLINUZ missing (linux-image-amd64 for $KVER)"
[[ -d $MODDIR/build ]] || die "$MODDIR/build missing (linux-headers for $KVER)"
BUSYBOX=$(command -v busybox || true)
[[ -n $BUSYBOX ]] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || die "no static busybox (busybox-static)"

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/aestest-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# --- 1. build --------------------------------------------------------------------
note "building the module against $KVER"
make -s -C "$PAPER_DIR/kmod" KDIR="$MODDIR/build" BUILD="$WORK/kmod" >"$WORK/kmod.log" 2>&1 ||
	{
		cat "$WORK/kmod.log" >&2
		die "module build failed"
	}

# The static user program: the portable AES and EVP always; ipsec-mb if its static
# library exists; the project's engine if lib/util and lib/crypto build statically.
note "building the static paper_aestest"
AES=$PAPER_DIR/aes
CFLAGS=(-O2 -std=c11 -D_GNU_SOURCE -I"$AES" -I"$ROOT/lib")
static_build() { # static_build OUTPUT EXTRA...
	local out=$1
	shift
	gcc -static "${CFLAGS[@]}" -o "$out" "$AES/paper_aestest.c" "$AES/aes_portable.c" "$@" \
		-lcrypto -lpthread >>"$WORK/static.log" 2>&1
}
BUILT_WITH="portable, evp"
if [[ $(gcc -print-file-name=libIPSec_MB.a) == /* ]]; then
	mkdir -p "$WORK/lib"
	libok=1
	for f in "$ROOT"/lib/util/*.c "$ROOT"/lib/crypto/*.c; do
		o=$WORK/lib/$(basename "$(dirname "$f")")_$(basename "$f" .c).o
		gcc "${CFLAGS[@]}" -c "$f" -o "$o" >>"$WORK/static.log" 2>&1 || libok=0
	done
	if ((libok)) && ar rcs "$WORK/libcs.a" "$WORK"/lib/*.o &&
		static_build "$WORK/aestest" -DPAPER_WITH_MB -DPAPER_WITH_ENGINE "$WORK/libcs.a" \
			-lIPSec_MB; then
		BUILT_WITH="portable, evp, ipsec-mb, engine"
	elif static_build "$WORK/aestest" -DPAPER_WITH_MB -lIPSec_MB; then
		BUILT_WITH="portable, evp, ipsec-mb (engine rows compiled out: lib/ did not build statically)"
	fi
fi
[[ -x $WORK/aestest ]] || static_build "$WORK/aestest" ||
	{
		cat "$WORK/static.log" >&2
		die "static build failed"
	}
note "static paper_aestest built with: $BUILT_WITH"

# --- 2. initramfs -------------------------------------------------------------------
# aesni-intel and what modules.dep says it needs, loaded deepest first.
modfile() { # modfile NAME: the module's path relative to $MODDIR
	awk -F: -v n="$1" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b);
		gsub(/-/, "_", b); if (b == n) { print $1; exit } }' "$MODDIR/modules.dep"
}
aesni=$(modfile aesni_intel)
[[ -n $aesni ]] || die "aesni-intel not found in $MODDIR/modules.dep"
deps=$(awk -F: -v m="$aesni" '$1 == m { print $2 }' "$MODDIR/modules.dep")
LOAD=()
for d in $deps; do LOAD=("$d" "${LOAD[@]}"); done
LOAD+=("$aesni")
R=$WORK/root
mkdir -p "$R"/{bin,proc,sys,dev,mod}
cp "$BUSYBOX" "$R/bin/busybox"
cp "$WORK/aestest" "$R/bin/aestest"
cp "$WORK/kmod/aestest.ko" "$R/mod/"
MODS=""
for m in "${LOAD[@]}"; do
	b=$(basename "$m")
	case "$b" in
	*.ko) cp "$MODDIR/$m" "$R/mod/$b" ;;
	*.ko.xz) xz -dc "$MODDIR/$m" >"$R/mod/${b%.xz}" ;;
	*.ko.zst) zstd -qdc "$MODDIR/$m" >"$R/mod/${b%.zst}" ;;
	*.ko.gz) gzip -dc "$MODDIR/$m" >"$R/mod/${b%.gz}" ;;
	*) die "unknown module file $b" ;;
	esac
	b=${b%%.ko*}
	MODS="$MODS $b"
done
WARM=$((VM_COUNT / 10))
# The guest's script.  Mode "wall" (the guest clock is the host's real time): a warm-up,
# then the paper's pair alone (portable C, user and kernel, PAIR_ROUNDS rounds, the
# order alternating), then every row (VM_RUNS rounds).  Mode "icount" (QEMU's
# -icount: the guest clock advances 1 ns per guest instruction): every row,
# ICOUNT_RUNS rounds, which counts instructions and is immune to the host's load.
cat >"$R/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /tmp
MODE=wall
grep -q aestestmode=icount /proc/cmdline && MODE=icount
echo "=== guest \$(uname -r), \$(grep -c ^processor /proc/cpuinfo) cpu, mode \$MODE"
for m in $MODS; do
	insmod /mod/\$m.ko && echo "=== insmod \$m ok" || echo "=== insmod \$m FAILED"
done
insmod /mod/aestest.ko && echo "=== insmod aestest ok" || echo "=== insmod aestest FAILED"
P=/sys/module/aestest/parameters
mark() { echo "=== t-\$1 \$2 \$3 \$4"; } # the host samples QEMU's CPU time at each mark
user() { # user PHASE COUNT ONLY WARMUP ROUND: one run of the static program, which marks
	if /bin/aestest --count \$2 --runs 1 --warmup \$4 --machine --only \$3 \
		--marks "\$1 user \$5" >/tmp/u; then
		grep '^aestest-user' /tmp/u | sed "s/^/\$1 /"
	else
		echo "=== aestest FAILED"
	fi
}
kern() { # kern PHASE COUNT MASK ROUND: one read of /proc/aestest, the paper's way
	echo \$2 >\$P/count
	echo \$3 >\$P/tests
	dmesg -c >/dev/null
	mark begin \$1 kern \$4
	dd bs=1 count=1 if=/proc/aestest of=/dev/zero 2>/dev/null || echo "=== read FAILED"
	mark end \$1 kern \$4
	dmesg | grep -o 'aestest-kernel.*' | sed "s/^/\$1 /"
}
rounds() { # rounds PHASE N COUNT ONLY MASK WARMUP
	r=1
	while [ \$r -le \$2 ]; do
		echo "=== \$1 round \$r"
		if [ \$((r % 2)) -eq 1 ]; then
			user \$1 \$3 \$4 \$6 \$r
			kern \$1 \$3 \$5 \$r
		else
			kern \$1 \$3 \$5 \$r
			user \$1 \$3 \$4 \$6 \$r
		fi
		r=\$((r + 1))
	done
}
ALL=portable,evp,mb-cbc,mb-cbc-x16,engine-evp,engine-mb,engine-mb-x16
if [ \$MODE = wall ]; then
	rounds warm 1 $WARM \$ALL 15 0
	rounds pair $PAIR_ROUNDS $VM_COUNT portable 1 0
	rounds all $VM_RUNS $VM_COUNT \$ALL 15 $WARM
else
	rounds icount $ICOUNT_RUNS $ICOUNT_COUNT \$ALL 15 $((ICOUNT_COUNT / 10))
fi
# Every cbc(aes) the runs instantiated, with its priority (the default picks the highest).
awk -F' *: *' '/^name/ { n = \$2 } /^driver/ { d = \$2 } /^priority/ { p = \$2 }
	/^type/ && n == "cbc(aes)" { print "=== crypto " n " " d " priority " p " " \$2 }' /proc/crypto
echo "=== done"
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initrd.gz")

# --- 3. the VM, twice ---------------------------------------------------------------
# The console goes through a small runner that, at each "=== t-" mark the guest prints,
# appends the CPU time QEMU's threads have used so far (/proc/PID/task/*/schedstat, ns):
# on this shared host a guest's wall-clock time is mostly time spent waiting for a CPU,
# the host CPU time of the emulator is not.
cat >"$WORK/runner.py" <<'PY'
import os, subprocess, sys, threading

log, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
timer = threading.Timer(limit, p.kill)
timer.start()


def cpu_ns():
    total = 0
    for tid in os.listdir("/proc/%d/task" % p.pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (p.pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


with open(log, "w") as out:
    for raw in p.stdout:
        line = raw.decode("utf-8", "replace").replace("\r", "")
        if line.startswith("=== t-"):
            line = "%s cpu_ns=%d\n" % (line.rstrip("\n"), cpu_ns())
        out.write(line)
        out.flush()
p.wait()
timer.cancel()
PY
boot() { # boot LOG APPEND [QEMU ARGS...]
	local log=$1 append=$2
	shift 2
	python3 "$WORK/runner.py" "$log" "$VM_TIMEOUT" qemu-system-x86_64 -cpu max -nographic \
		-no-reboot -m 512 "$@" -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 $append" || true
	grep -q '^=== done' "$log" || {
		tail -30 "$log" >&2
		die "the VM did not finish (console: $log)"
	}
	if grep -q -e FAILED "$log"; then
		grep -e FAILED "$log" >&2
		die "a step failed inside the VM (console: $log)"
	fi
}
note "booting $KVER under qemu (TCG, wall clock): pair $PAIR_ROUNDS x, all rows $VM_RUNS x, $VM_COUNT iterations ($(elapsed) s so far)"
T_VM=$(date +%s)
boot "$OUT/vm-console.log" aestestmode=wall
T_VM=$(($(date +%s) - T_VM))
note "booting again with -icount shift=0: all rows $ICOUNT_RUNS x $ICOUNT_COUNT iterations ($(elapsed) s so far)"
T_IC=$(date +%s)
boot "$OUT/vm-icount-console.log" aestestmode=icount -icount shift=0,sleep=off
T_IC=$(($(date +%s) - T_IC))
note "VM stages done in $T_VM s and $T_IC s"

# --- 4. native ----------------------------------------------------------------------
note "native: $NATIVE_RUNS runs of $NATIVE_COUNT iterations ($(elapsed) s so far)"
"$WORK/aestest" --count "$NATIVE_COUNT" --runs "$NATIVE_RUNS" --machine >"$OUT/native.log" ||
	die "native paper_aestest failed"
: >"$OUT/openssl-speed.log"
if command -v openssl >/dev/null; then
	for _ in $(seq "$NATIVE_RUNS"); do
		openssl speed -mr -evp aes-256-cbc -bytes 1024 -seconds 2 2>/dev/null |
			grep '^+F:' >>"$OUT/openssl-speed.log" || true
	done
fi

# --- 5. the tables ------------------------------------------------------------------
{
	echo "host_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "host_cpus=$(nproc)"
	echo "host_kernel=$(uname -r)"
	echo "load_start=$LOAD_START"
	echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "guest_kernel=$KVER"
	echo "qemu=$(qemu-system-x86_64 --version | head -1 | sed 's/.*version \([^ ]*\).*/\1/')"
	echo "gcc=$(gcc -dumpfullversion)"
	echo "openssl=$(openssl version 2>/dev/null | cut -d' ' -f2)"
	echo "ipsecmb=$(sed -n 's/^#define IMB_VERSION_STR "\(.*\)"/\1/p' /usr/include/intel-ipsec-mb.h)"
	echo "built_with=$BUILT_WITH"
	echo "vm_count=$VM_COUNT"
	echo "vm_runs=$VM_RUNS"
	echo "pair_rounds=$PAIR_ROUNDS"
	echo "icount_count=$ICOUNT_COUNT"
	echo "icount_runs=$ICOUNT_RUNS"
	echo "vm_seconds=$T_VM"
	echo "icount_seconds=$T_IC"
	echo "native_count=$NATIVE_COUNT"
	echo "native_runs=$NATIVE_RUNS"
	echo "date=$(date -u +%Y-%m-%d)"
} >"$WORK/meta"
python3 - "$WORK/meta" "$OUT/vm-console.log" "$OUT/vm-icount-console.log" "$OUT/native.log" \
	"$OUT/openssl-speed.log" >"$OUT/aes.md" <<'PY'
import re, statistics, sys

meta = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l)
wall = open(sys.argv[2], errors="replace").read()
icount = open(sys.argv[3], errors="replace").read()
native = open(sys.argv[4]).read()
speed = open(sys.argv[5]).read()

LABEL = {
    "portable": "portable C AES (tables; the same source in both spaces)",
    "evp": "OpenSSL EVP aes-256-cbc",
    "mb-cbc": "ipsec-mb job API, cipher only, 1 buffer",
    "mb-cbc-x16": "ipsec-mb job API, cipher only, 16 buffers",
    "engine-evp": "cryptstore engine evp, cbc+hmac seal+open",
    "engine-mb": "cryptstore engine ipsec-mb, cbc+hmac, 1 record",
    "engine-mb-x16": "cryptstore engine ipsec-mb, cbc+hmac, 16 records",
    "kapi-sync": "crypto API cbc(aes), synchronous drivers only",
    "kapi-default": "crypto API cbc(aes), default (highest priority)",
    "kapi-generic": "crypto API cbc(aes-generic), the kernel's table C AES",
}
LINE = re.compile(r"^(?:(\w+) )?aestest-(user|kernel) (\S+) (\d+) (\d+) ([0-9.]+) [0-9.]+(?: (\S+))?$",
                  re.M)


def parse(text):
    """{(phase, space, id): [(seconds, MB/s, instructions/byte, count, CPU MB/s), ...]},
    drivers; CPU MB/s is None where there is no CPU time (kernel lines, the guest)"""
    rows, drivers = {}, {}
    for m in LINE.finditer(text):
        phase, space, rid = m.group(1) or "native", m.group(2), m.group(3)
        count, size, sec = int(m.group(4)), int(m.group(5)), float(m.group(6))
        nbytes = 2 * size * count
        cpu = None
        if space == "kernel":
            drivers[rid] = m.group(7)
        elif m.group(7):
            cpu = nbytes / float(m.group(7)) / 1e6
        rows.setdefault((phase, space, rid), []).append(
            (sec, nbytes / sec / 1e6, sec * 1e9 / nbytes, count, cpu))
    return rows, drivers


def host_cpu(text, phase):
    """{space: [MB per host CPU second, ...]} from the marks around each timed side"""
    begin, out = {}, {}
    for m in re.finditer(r"^=== t-(begin|end) (\S+) (\S+) (\d+) cpu_ns=(\d+)$", text, re.M):
        what, ph, side, rd, ns = m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5))
        if ph != phase:
            continue
        if what == "begin":
            begin[(side, rd)] = ns
        elif (side, rd) in begin and ns > begin[(side, rd)]:
            out.setdefault(side, {})[int(rd)] = ns - begin.pop((side, rd))
    return out


def med(rows, i):
    return statistics.median(r[i] for r in rows)


def rng(rows, i, fmt):
    v = [r[i] for r in rows]
    return (fmt + "-" + fmt) % (min(v), max(v))


W, drv = parse(wall)
I, _ = parse(icount)
N, _ = parse(native)
for need in (("pair", "user", "portable"), ("pair", "kernel", "portable"),
             ("icount", "user", "portable"), ("icount", "kernel", "portable"),
             ("native", "user", "portable")):
    if need not in W and need not in I and need not in N:
        sys.exit("vm.sh: no %s/%s/%s results to tabulate" % need)
crypto = re.findall(r"=== crypto (.*)", wall)
simd = sorted(set(re.findall(r"simd-usable=(\S+)", wall + icount)))

o = []
p = o.append
p("<!-- generated by bench/paper/vm.sh on %s; do not edit by hand -->" % meta["date"])
p("")
p("#### The paper (2007): one C AES-256-CBC loop in a user process and in a kernel module")
p("")
p("| MB/s | Dual 3.0GHz Xeon | Dual dual-core 265 Opteron | Single 2.53GHz Celeron |")
p("| --- | ---: | ---: | ---: |")
p("| User space | 89 | 66 | 47 |")
p("| Kernel space | 70 | 58 | 44 |")
p("| Kernel speed % of user | -21 | -12 | -6 |")
p("")

# The headline: the paper's pair, today, in the VM.
pu, pk = W[("pair", "user", "portable")], W[("pair", "kernel", "portable")]
ratios = [k[1] / u[1] for u, k in zip(pu, pk)]
iu, ik = I[("icount", "user", "portable")], I[("icount", "kernel", "portable")]
hc = host_cpu(wall, "pair")
pbytes = 2 * 1024 * pu[0][3]
hu = [pbytes / (ns / 1e9) / 1e6 for _, ns in sorted(hc.get("user", {}).items())]
hk = [pbytes / (ns / 1e9) / 1e6 for _, ns in sorted(hc.get("kern", {}).items())]
hr = [hc["kern"][r] and hc["user"][r] / hc["kern"][r] for r in sorted(hc.get("user", {}))
      if r in hc.get("kern", {})]
p("#### Today: the same comparison in a VM (Debian %s, QEMU %s, software emulation)" %
  (meta["guest_kernel"], meta["qemu"]))
p("")
p("| portable C AES-256-CBC, 1 KiB x (encrypt + decrypt) | user space | kernel space | "
  "kernel % of user |")
p("| --- | ---: | ---: | ---: |")
p("| MB/s, guest clock = real time (median of %d rounds of %d, alternating; per-round "
  "ratios in brackets) | %.1f | %.1f | %+.0f (%+.0f to %+.0f) |" %
  (len(ratios), pu[0][3], med(pu, 1), med(pk, 1), (med(pk, 1) / med(pu, 1) - 1) * 100,
   (min(ratios) - 1) * 100, (max(ratios) - 1) * 100))
if hu and hk and hr:
    p("| MB per second of host CPU spent by QEMU, same rounds | %.1f | %.1f | "
      "%+.0f (%+.0f to %+.0f) |" %
      (statistics.median(hu), statistics.median(hk),
       (statistics.median(hk) / statistics.median(hu) - 1) * 100,
       (min(hr) - 1) * 100, (max(hr) - 1) * 100))
p("| guest instructions per byte, -icount (median of %d rounds of %d) | %.1f | %.1f | %+.1f |" %
  (len(iu), iu[0][3], med(iu, 2), med(ik, 2), (med(iu, 2) / med(ik, 2) - 1) * 100))
p("")
p("Emulated: the guest runs under TCG, which translates every guest instruction into host "
  "code, so these MB/s compare user with kernel inside this VM only, never with the native "
  "table below or with real hardware. The guest clock follows the host's real time, which on "
  "this shared host is mostly time spent waiting for a CPU; QEMU's own CPU time, sampled by "
  "the host at marks the guest prints around each side, leaves the waiting out. In the "
  "-icount boot the guest clock advances one "
  "nanosecond per guest instruction, so a time is an instruction count (the percentage is "
  "then the change in speed at equal instructions per second): it is free of the host's "
  "load but blind to caches and to what an instruction costs.")
p("")

# Native.
p("#### Today, native: %s (%s CPUs, shared with other work), user space only" %
  (meta["host_cpu"], meta["host_cpus"]))
p("")
p("%d x (encrypt + decrypt) of a 1 KiB random buffer, random key, as in the paper; median of "
  "%d runs, implementations interleaved; MB/s = (bytes encrypted + bytes decrypted) / s, "
  "1 MB = 10^6 B. The static binary of the VM (gcc %s -O2), OpenSSL %s, intel-ipsec-mb %s; "
  "rows built: %s. Host load average %s at the start, %s at the end (2 CPUs)." %
  (int(meta["native_count"]), int(meta["native_runs"]), meta["gcc"], meta["openssl"],
   meta["ipsecmb"], meta["built_with"], meta["load_start"], meta["load_end"]))
p("")
p("MB/s of CPU divides by the thread's CPU time, which leaves out the time spent waiting "
  "for a CPU on this oversubscribed host; it is the figure to compare. Wall-clock MB/s is "
  "shown beside it.")
p("")
p("| user-space implementation | MB/s of CPU | runs min-max | wall-clock MB/s | "
  "CPU s per 10^6 iterations | vs portable (CPU) |")
p("| --- | ---: | ---: | ---: | ---: | ---: |")
base = med(N[("native", "user", "portable")], 4)
for (ph, sp, rid), r in N.items():
    p("| %s | %.0f | %s | %.0f | %.2f | %.2fx |" %
      (LABEL.get(rid, rid), med(r, 4), rng(r, 4, "%.0f"), med(r, 1),
       2048.0 / med(r, 4), med(r, 4) / base))
sp = [float(l.rsplit(":", 1)[1]) / 1e6 for l in speed.split() if l.startswith("+F:")]
if sp:
    p("| `openssl speed -evp aes-256-cbc`, 1 KiB blocks, one direction (the paper's check; "
      "its own user CPU time) | %.0f | %.0f-%.0f | - | - | %.2fx |" %
      (statistics.median(sp), min(sp), max(sp), statistics.median(sp) / base))
p("")

# Every row in the VM.
p("#### Every row in the VM (emulated; compare within a column only)")
p("")
p("MB/s: guest clock = real time, median of %d rounds of %d iterations (one boot, user and "
  "kernel alternating). Instructions per byte: the -icount boot. The VM stages took %s s and "
  "%s s." % (int(meta["vm_runs"]), int(meta["vm_count"]), meta["vm_seconds"],
             meta["icount_seconds"]))
p("")
p("| space | implementation | kernel driver | MB/s | runs min-max | s per 10^6 iterations "
  "(scaled) | vs portable, same space | instructions per byte (icount) |")
p("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for space in ("user", "kernel"):
    keys = [k for k in W if k[0] == "all" and k[1] == space]
    b = med(W[("all", space, "portable")], 1)
    for k in keys:
        r = W[k]
        ic = I.get(("icount", space, k[2]))
        p("| %s | %s | %s | %.1f | %s | %.0f | %.2fx | %s |" %
          (space, LABEL.get(k[2], k[2]), drv.get(k[2], "-") if space == "kernel" else "-",
           med(r, 1), rng(r, 1, "%.1f"), med(r, 0) * 1e6 / r[0][3], med(r, 1) / b,
           "%.1f" % med(ic, 2) if ic else "-"))
p("")
if ("all", "user", "evp") in W and ("all", "kernel", "kapi-default") in W:
    ue, ke = med(W[("all", "user", "evp")], 1), med(W[("all", "kernel", "kapi-default")], 1)
    p("AES-NI on both sides (VM, different code): OpenSSL EVP in user space %.1f MB/s, the "
      "kernel's %s %.1f MB/s (%+.0f%%)." % (ue, drv.get("kapi-default", "?"), ke,
                                            (ke / ue - 1) * 100))
p("Guest `cbc(aes)` implementations after the runs (name, driver, priority, type): %s. "
  "SIMD usable in the /proc read (may_use_simd): %s." %
  ("; ".join(crypto) if crypto else "none listed", ", ".join(simd) or "?"))
print("\n".join(o))
PY
cat "$OUT/aes.md"
# The figure of docs/PAPER.md section 1 (gnuplot: make paper installs gnuplot-nox).
if command -v gnuplot >/dev/null 2>&1; then
	bash "$(dirname "$0")/plot_aes.sh" "$OUT" "${PLOTS:-$PAPER_DIR/../../docs/paper}" || note "plot_aes.sh failed"
else
	note "gnuplot not installed: no docs/paper/aes.png (apt-get install gnuplot-nox)"
fi
note "wrote $OUT/aes.md (consoles: $OUT/vm-console.log, $OUT/vm-icount-console.log;" \
	"native: $OUT/native.log); $(elapsed) s in all"
