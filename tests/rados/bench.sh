#!/bin/sh
# bench.sh [MiB]: PUT and GET of one MiB-sized object (256 by default)
# through store_rados, against the same through `rados --striper put/get`
# and `rados bench` (16 ops in flight, 4 MiB objects) in the same run, on a
# throwaway cluster from tools/ceph-dev.sh (or the one CRYPTSTORE_CEPH_CONF
# names).  Run from the build directory: sh ../tests/rados/bench.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mib=${1:-256}
bin=${BENCH_STORE_RADOS:-tests/rados/bench_store_rados}
[ -x "$bin" ] || { echo "bench.sh: $bin not built (run from the build directory)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/cs-ceph-bench-XXXXXX)
trap 'sh "$here/../../tools/ceph-dev.sh" stop "$tmp/cluster" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
if [ -z "${CRYPTSTORE_CEPH_CONF:-}" ]; then
	sh "$here/../../tools/ceph-dev.sh" start "$tmp/cluster" >"$tmp/env"
	. "$tmp/env"
fi
R="rados -c $CRYPTSTORE_CEPH_CONF --id ${CRYPTSTORE_CEPH_USER#client.} --keyring $CRYPTSTORE_CEPH_KEYRING -p $CRYPTSTORE_CEPH_POOL -N benchbase"
head -c $((mib << 20)) /dev/urandom >"$tmp/data"
t() { date +%s.%N; }
rate() { awk -v s="$1" -v e="$2" -v m="$mib" 'BEGIN { printf "%.2f s, %.0f MiB/s", e - s, m / (e - s) }'; }
a=$(t); $R --striper put obj "$tmp/data"; b=$(t)
echo "rados --striper PUT $mib MiB: $(rate "$a" "$b")"
put_base=$(awk -v s="$a" -v e="$b" 'BEGIN { print e - s }')
a=$(t); $R --striper get obj "$tmp/back"; b=$(t)
echo "rados --striper GET $mib MiB: $(rate "$a" "$b")"
get_base=$(awk -v s="$a" -v e="$b" 'BEGIN { print e - s }')
cmp -s "$tmp/data" "$tmp/back" || { echo "bench.sh: rados get differs" >&2; exit 1; }
$R --striper rm obj
rm -f "$tmp/back"
$R bench 10 write -t 16 -b 4194304 --no-cleanup 2>&1 | awk '/Bandwidth \(MB\/sec\)/ { print "rados bench write (16 x 4 MiB in flight): " $3 " MB/s" }'
$R bench 10 seq -t 16 2>&1 | awk '/Bandwidth \(MB\/sec\)/ { print "rados bench seq read (16 in flight): " $3 " MB/s" }'
$R cleanup >/dev/null 2>&1 || true
out=$("$bin" "$mib" 4 1024)
echo "$out"
echo "$out" | awk -v p="$put_base" -v g="$get_base" -v m="$mib" '
	/PUT/ { s = $5 + 0; printf "PUT speed, store_rados over rados --striper: %.2fx\n", p / s }
	/GET/ { s = $5 + 0; printf "GET speed, store_rados over rados --striper: %.2fx\n", g / s }'
