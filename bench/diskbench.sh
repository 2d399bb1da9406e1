#!/usr/bin/env bash
# diskbench.sh: cryptstored on the real disk, durable, against a plain sequential write of
# the same number of bytes to the same file system, in one run.
#
# The baseline is `dd if=SRC of=DISK/file bs=1M oflag=direct conv=fdatasync` from a tmpfs
# source (no page cache, flushed before dd exits).  cryptstored stores its data on the same
# file system with --sync true (every object fdatasync'ed, its directory fsync'ed, before the
# 200 is sent) and default settings otherwise; bench/loadgen PUTs the same size over loopback
# (UNSIGNED-PAYLOAD: the payload's SHA-256 is a client choice; MD5 ETags stay on).  Rounds are
# interleaved (dd, cryptstored, dd, ...) after one warm-up round; medians are reported with
# the ratio cryptstored / dd.  Issue 5's target: >= 0.85x.  "machine CPU" is every CPU's busy time
# during the PUTs (/proc/stat: the server, loadgen, the kernel's write-back threads, anything
# else running) per GB.  Full batches go to disk with O_DIRECT (direct_io, the default);
# --server-args "--direct-io false" writes through the page cache, write-back included.
set -euo pipefail

usage() {
	cat <<EOF
usage: bench/diskbench.sh [--build DIR] [--disk DIR] [--size MiB] [--conns N] [--rounds N]
                         [--server-args "FLAGS"]

  --build DIR   build tree with server/cryptstored and bench/loadgen (default build-release)
  --disk DIR    a directory on the disk to measure (default /var/tmp); needs 3x --size free
  --size MiB    bytes per write (default 1024)
  --conns N     cryptstored: N connections each PUT size/N (default 1: one stream)
  --rounds N    measured rounds after one warm-up (default 3; medians reported)
  --server-args "FLAGS"  extra cryptstored flags, e.g. "--etag-md5 false"
EOF
}

BUILD=build-release DISK=/var/tmp SIZE=1024 CONNS=1 ROUNDS=3 EXTRA=
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--disk) DISK=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--server-args) EXTRA=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "diskbench: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for v in "$SIZE" "$CONNS" "$ROUNDS"; do
	case "$v" in '' | *[!0-9]* | 0) echo "diskbench: --size, --conns, --rounds want numbers >= 1" >&2; exit 2 ;; esac
done
[ $((SIZE % CONNS)) -eq 0 ] || { echo "diskbench: --size must divide by --conns" >&2; exit 2; }
SRV=$BUILD/server/cryptstored LG=$BUILD/bench/loadgen
[ -x "$SRV" ] && [ -x "$LG" ] || { echo "diskbench: build $BUILD first (make bench)" >&2; exit 1; }

W=$(mktemp -d "$DISK/cs-diskbench.XXXXXX")
SRC=$(mktemp /dev/shm/cs-diskbench-src.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W" "$SRC"
}
trap cleanup EXIT
head -c $((SIZE << 20)) /dev/urandom >"$SRC"

"$SRV" --port 0 --port-file "$W/port" --data-dir "$W/data" --keys-dir "$W/keys" \
	--root-key "$W/root.key" --init-demo true --credentials-file "$W/creds" \
	--admin-socket "$W/admin.sock" --audit-dir "$W/audit" --sync true $EXTRA >"$W/log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { echo "diskbench: server did not start" >&2; tail "$W/log" >&2; exit 1; }
read -r _ AKID SECRET < <(grep '^s1 ' "$W/creds")

dd_once() {
	local t0 t1
	rm -f "$W/dd.out"
	t0=$(date +%s.%N)
	dd if="$SRC" of="$W/dd.out" bs=1M oflag=direct conv=fdatasync status=none
	t1=$(date +%s.%N)
	rm -f "$W/dd.out"
	python3 -c "print('%.1f' % ($SIZE * 1048576 / 1e6 / ($t1 - $t0)))"
}
# busy: CPU seconds of the whole machine so far (every process and the kernel's write-back
# threads, which server CPU does not see), from /proc/stat.
busy() {
	awk '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat
}
cs_once() {
	AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET "$LG" \
		--url "http://127.0.0.1:$(cat "$W/port")" --bucket level-s1 --conns "$CONNS" \
		--size $((SIZE / CONNS))M --requests "$CONNS" --unsigned-payload --server-pid "$PID" \
		--json | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f %.3f" % (j["mb_per_s"], j["server_cpu_s_per_gb"] or 0))'
}

dds="" css="" gbs="" alls=""
for r in $(seq 0 "$ROUNDS"); do
	d=$(dd_once)
	b0=$(busy)
	read -r c g < <(cs_once)
	b1=$(busy)
	[ "$r" -eq 0 ] && continue
	dds+="$d " css+="$c " gbs+="$g "
	alls+="$(python3 -c "print('%.3f' % (($b1 - $b0) / ($SIZE * 1048576 / 1e9)))") "
	echo "round $r: dd ${d} MB/s, cryptstored ${c} MB/s" >&2
done
python3 - "$dds" "$css" "$gbs" "$alls" "$SIZE" "$CONNS" "$DISK" "$EXTRA" <<'EOF'
import statistics, sys
d, c, g, a = ([float(x) for x in v.split()] for v in sys.argv[1:5])
size, conns, disk, extra = sys.argv[5:]
md, mc = statistics.median(d), statistics.median(c)
print("| write of %s MiB to %s | MB/s (median) | runs | server CPU s/GB | machine CPU s/GB |" % (size, disk))
print("| --- | ---: | --- | ---: | ---: |")
print("| dd bs=1M oflag=direct conv=fdatasync | %.1f | %s | - | - |" % (md, " ".join("%.0f" % x for x in d)))
print("| cryptstored PUT, %s conn(s), --sync true %s| %.1f | %s | %.2f | %.2f |" %
      (conns, extra + " " if extra else "", mc, " ".join("%.0f" % x for x in c), statistics.median(g),
       statistics.median(a)))
print("\ncryptstored / dd = %.2fx" % (mc / md))
EOF
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
