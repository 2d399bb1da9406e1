#!/usr/bin/env bash
# bench/syscalls.sh: system calls per MiB of a PUT and a GET, counted with `strace -c -f` on
# the running server while bench/loadgen moves the data (issue 5: "few syscalls, count them
# per MiB").  Counts, not timings: strace slows the server down, so its MB/s mean nothing.
set -euo pipefail
ME=syscalls.sh
BUILD=build-release
SIZE=256
CONNS=1
SYNC=false
EXTRA=""

usage() {
	cat <<EOF
usage: bench/syscalls.sh [--build DIR] [--size MIB] [--conns N] [--sync true|false]
                         [--server-args "FLAGS"]

Starts cryptstored (demo mode, data in a fresh directory under /dev/shm, or under /var/tmp
with --sync true), attaches \`strace -c -f\`, PUTs SIZE MiB (default 256) in CONNS objects
(default 1) with bench/loadgen (UNSIGNED-PAYLOAD), then GETs them back, and prints a
Markdown table of each call's count per MiB moved, for the PUT and the GET.
  --build DIR           where cryptstored and loadgen are (default build-release)
  --server-args FLAGS   extra cryptstored flags
Needs strace (apt-get install strace).
EOF
}

while (($#)); do
	case $1 in
	--build) BUILD=${2:?}; shift ;;
	--size) SIZE=${2:?}; shift ;;
	--conns) CONNS=${2:?}; shift ;;
	--sync) SYNC=${2:?}; shift ;;
	--server-args) EXTRA=${2:?}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; echo "$ME: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
command -v strace >/dev/null || { echo "$ME: strace is not installed" >&2; exit 1; }
SRV=$BUILD/server/cryptstored
LG=$BUILD/bench/loadgen
[ -x "$SRV" ] && [ -x "$LG" ] || { echo "$ME: build $BUILD first (make build)" >&2; exit 1; }
BASE=/dev/shm
[ "$SYNC" = true ] && BASE=/var/tmp
W=$(mktemp -d "$BASE/cs-syscalls.XXXXXX")
PID=
ST=
cleanup() {
	[ -n "$ST" ] && kill "$ST" 2>/dev/null && wait "$ST" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # EXTRA is a list of flags
"$SRV" --port 0 --port-file "$W/port" --data-dir "$W/data" --keys-dir "$W/keys" \
	--root-key "$W/root.key" --init-demo true --credentials-file "$W/creds" \
	--admin-socket "$W/admin.sock" --audit-dir "$W/audit" --sync "$SYNC" \
	--sandbox false $EXTRA >"$W/log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do [ -s "$W/port" ] && break; sleep 0.05; done
[ -s "$W/port" ] || { echo "$ME: server did not start" >&2; tail "$W/log" >&2; exit 1; }
read -r _ AKID SECRET < <(grep '^s1 ' "$W/creds")

# count OP: strace the server through one loadgen run; the summary goes to $W/OP.txt.
count() {
	local op=$1
	strace -c -f -p "$PID" -o "$W/$op.txt" 2>/dev/null &
	ST=$!
	sleep 1 # strace attaches to every thread
	AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET "$LG" \
		--url "http://127.0.0.1:$(cat "$W/port")" --bucket level-s1 --conns "$CONNS" \
		--size $((SIZE / CONNS))M --requests "$CONNS" --unsigned-payload --op "$op" \
		--prefix sc- >/dev/null
	sleep 0.5
	kill -INT "$ST"
	wait "$ST" 2>/dev/null || true
	ST=
}
count put
count get

python3 - "$W/put.txt" "$W/get.txt" "$SIZE" "$CONNS" "$SYNC" <<'EOF'
import sys
def load(path):
    calls = {}
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls
put, get, mib = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
print("%s MiB in %s object(s), --sync %s: system calls per MiB moved\n" % (sys.argv[3], sys.argv[4], sys.argv[5]))
print("| call | PUT / MiB | GET / MiB |")
print("| --- | ---: | ---: |")
names = sorted(set(put) | set(get), key=lambda n: -(put.get(n, 0) + get.get(n, 0)))
for n in names:
    p, g = put.get(n, 0) / mib, get.get(n, 0) / mib
    if p >= 0.05 or g >= 0.05:
        print("| %s | %.2f | %.2f |" % (n, p, g))
print("| **all** | **%.1f** | **%.1f** |" % (sum(put.values()) / mib, sum(get.values()) / mib))
EOF
