#!/usr/bin/env bash
# radosbench.sh: cryptstored on the RADOS backend, 1 and 2 front-ends, beside the local
# filesystem backend, all driven by bench/loadgen in interleaved rounds of one run.
#
# A throwaway cluster from tools/ceph-dev.sh (one mon, one memstore OSD: the OSD keeps the
# data in RAM, so the local rows use a tmpfs too); front-ends A and B share it (same root
# key, store = rados); L is a front-end with its data on tmpfs.  Workloads: PUT and GET of
# 16 MiB objects over 8 connections (512 MiB per run); with two front-ends, two loadgens at
# once (8 connections each) and the sum of their MB/s.  --sync false everywhere (the OSD is
# in memory).  Prints medians of --rounds after a warm-up and ratios to the local row, with
# the server-side CPU seconds per GB (cryptstored and, for RADOS, the ceph-osd and ceph-mon
# processes added).
set -euo pipefail

usage() {
	cat <<EOF
usage: bench/radosbench.sh [--build DIR] [--rounds N]
  --build DIR   build tree with server/cryptstored and bench/loadgen (default build-release)
  --rounds N    measured rounds after one warm-up (default 3)
Needs ceph-mon, ceph-osd, ceph-common (tools/deps.sh --check installs them).
EOF
}
BUILD=build-release ROUNDS=3
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "radosbench: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRV=$BUILD/server/cryptstored LG=$BUILD/bench/loadgen
[ -x "$SRV" ] && [ -x "$LG" ] || { echo "radosbench: build $BUILD first (make bench)" >&2; exit 1; }

W=$(mktemp -d /dev/shm/cs-radosbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	sh "$ROOT/tools/ceph-dev.sh" stop "$W/ceph" >/dev/null 2>&1 || true
	[ "${RB_KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
sh "$ROOT/tools/ceph-dev.sh" start "$W/ceph" >"$W/ceph.env" 2>"$W/ceph.log" ||
	{ cat "$W/ceph.log" >&2; exit 1; }
. "$W/ceph.env"
RADOS=(--store rados --rados-conf "$CRYPTSTORE_CEPH_CONF" --rados-user "$CRYPTSTORE_CEPH_USER"
	--rados-keyring "$CRYPTSTORE_CEPH_KEYRING" --rados-pool "$CRYPTSTORE_CEPH_POOL"
	--sandbox false)

# start NAME [flags]: a front-end in demo mode; A and B share the root key.
start() {
	local n=$1 d=$W/$1
	shift
	mkdir -p "$d"
	"$SRV" --port 0 --port-file "$d/port" --data-dir "$d/data" --keys-dir "$d/keys" \
		--root-key "$W/root-$([ "$n" = L ] && echo L || echo AB).key" --init-demo true \
		--credentials-file "$d/creds" --admin-socket "$d/admin.sock" --audit-dir "$d/audit" \
		--sync false --log-level "${RB_LOG:-info}" "$@" >"$d/log" 2>&1 &
	PIDS+=($!)
	echo $! >"$d/pid"
	for _ in $(seq 1 600); do [ -s "$d/port" ] && return 0; sleep 0.05; done
	echo "radosbench: front-end $n did not start" >&2
	tail -n 20 "$d/log" >&2
	exit 1
}
start L
start A "${RADOS[@]}"
start B "${RADOS[@]}"
CEPH_PIDS=$(pgrep -d, -f "ceph-(osd|mon) .*$W/ceph" || true)

cpu_of() { # total utime+stime ticks of the given pids
	local t=0 p
	for p in ${1//,/ }; do
		[ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15 + $16 + $17}' /proc/$p/stat)))
	done
	echo "$t"
}

# lg FE OP: one loadgen run against front-end FE; prints "MB/s bytes".
lg() {
	local d=$W/$1 a s
	read -r _ a s < <(grep '^s1 ' "$d/creds")
	AWS_ACCESS_KEY_ID=$a AWS_SECRET_ACCESS_KEY=$s "$LG" --url "http://127.0.0.1:$(cat "$d/port")" \
		--bucket level-s1 --prefix "rb-$1-" --conns 8 --size 16M --total 512M \
		--unsigned-payload $([ "$2" = get ] && echo "--op get --verify") --json |
		python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f %d" % (j["mb_per_s"], j["bytes"]))'
}

# row NAME OP FE...: one measured run of OP on each FE at once; "MB/s s/GB".
row() {
	local name=$1 op=$2 pids c0 c1 out sum=0 bytes=0 f
	shift 2
	pids=$(for f in "$@"; do printf '%s,' "$(cat "$W/$f/pid")"; done)
	[ "$1" != L ] && pids+=$CEPH_PIDS
	c0=$(cpu_of "$pids")
	out=$(for f in "$@"; do lg "$f" "$op" & done; wait)
	c1=$(cpu_of "$pids")
	python3 -c '
import sys
rows = [l.split() for l in sys.argv[1].splitlines() if l.strip()]
mb = sum(float(r[0]) for r in rows); by = sum(int(r[1]) for r in rows)
print("%.1f %.3f" % (mb, (int(sys.argv[2]) - int(sys.argv[3])) / float(sys.argv[4]) / (by / 1e9)))
' "$out" "$c1" "$c0" "$(getconf CLK_TCK)"
}

# The GET objects: one PUT pass each (not measured; B's keys are its own prefix).
for f in L A B; do lg "$f" put >/dev/null; done

declare -A mb gb
ROWS=("local put L" "rados1 put A" "rados2 put A B" "local get L" "rados1 get A" "rados2 get A B")
for r in $(seq 0 "$ROUNDS"); do
	for spec in "${ROWS[@]}"; do
		set -- $spec
		read -r m g < <(row "$@")
		[ "$r" -eq 0 ] && continue
		mb[$1-$2]+="$m " gb[$1-$2]+="$g "
	done
done
python3 - "${mb[local-put]}" "${mb[rados1-put]}" "${mb[rados2-put]}" "${mb[local-get]}" \
	"${mb[rados1-get]}" "${mb[rados2-get]}" "${gb[local-put]}" "${gb[rados1-put]}" \
	"${gb[rados2-put]}" "${gb[local-get]}" "${gb[rados1-get]}" "${gb[rados2-get]}" <<'EOF'
import statistics, sys
v = [[float(x) for x in a.split()] for a in sys.argv[1:]]
med = [statistics.median(x) for x in v]
names = ["local fs (tmpfs), 1 front-end", "RADOS (memstore OSD), 1 front-end",
         "RADOS, 2 front-ends at once (sum)"]
print("| backend | PUT MB/s | x local | GET MB/s | x local | PUT server s/GB | GET server s/GB |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for i, n in enumerate(names):
    print("| %s | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f |" % (
        n, med[i], med[i] / med[0], med[3 + i], med[3 + i] / med[3], med[6 + i], med[9 + i]))
EOF
echo "(medians of $ROUNDS rounds after a warm-up; 8 connections x 16 MiB per front-end; server s/GB:"
echo " cryptstored processes, plus ceph-osd and ceph-mon for the RADOS rows; load $(cut -d' ' -f1-3 /proc/loadavg))"
