#!/usr/bin/env bash
# tlsbench.sh: what TLS costs cryptstored.  The same server binary and store
# serve plain HTTP and HTTPS (TLS 1.3, the server's preferred suite
# TLS_AES_256_GCM_SHA384, an ECDSA P-256 certificate from a throwaway CA made
# here); bench/loadgen drives both with the same workloads in interleaved
# rounds (http, https, http, ...), so machine noise hits both alike.  Prints
# per workload the median MB/s and server CPU s/GB of each, and the ratio
# https/http.  Results go in docs/BENCHMARKS.md ("TLS").
set -euo pipefail

usage() {
	cat <<EOF
usage: bench/tlsbench.sh [--build DIR] [--rounds N] [--data DIR] [--help]

  --build DIR   build tree with server/cryptstored and bench/loadgen
                (default: build-release, as \`make bench\` makes it)
  --rounds N    measured rounds per workload and scheme, after one warm-up
                round (default 5; the median is reported)
  --data DIR    where the two servers keep their stores (default: a fresh
                directory under /dev/shm, the tmpfs the throughput targets use)

Workloads: PUT 1 connection x 16 MiB objects (256 MiB), PUT 10 connections
(640 MiB), GET 10 connections (640 MiB).  Needs openssl (the command).
EOF
}

BUILD=build-release
ROUNDS=5
DATA=
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--data) DATA=$2; shift 2 ;;
	--help | -h) usage; exit 0 ;;
	*) echo "tlsbench: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "tlsbench: --rounds wants a number >= 1" >&2; exit 2 ;; esac
SRV=$BUILD/server/cryptstored
LG=$BUILD/bench/loadgen
for f in "$SRV" "$LG"; do
	[ -x "$f" ] || { echo "tlsbench: $f not built (make bench builds build-release)" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "tlsbench: needs the openssl command" >&2; exit 1; }

W=$(mktemp -d "${DATA:-/dev/shm}/cs-tlsbench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

# A CA and the server's certificate for 127.0.0.1.
(
	cd "$W"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
	openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=tlsbench CA"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out srv.key
	chmod 600 srv.key
	openssl req -new -key srv.key -out srv.csr -subj /CN=localhost
	printf 'subjectAltName=IP:127.0.0.1\n' >ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
		-days 2 -extfile ext
) >/dev/null 2>&1 || { echo "tlsbench: openssl could not make the certificates" >&2; exit 1; }

# start NAME [extra flags]: a server in demo mode on a free port.
start() {
	local d=$W/$1
	shift
	mkdir -p "$d"
	"$SRV" --port 0 --port-file "$d/port" --data-dir "$d/data" --keys-dir "$d/keys" \
		--root-key "$d/root.key" --init-demo true --credentials-file "$d/creds" \
		--admin-socket "$d/admin.sock" --audit-dir "$d/audit" "$@" >"$d/log" 2>&1 &
	PIDS+=($!)
	echo $! >"$d/pid"
	for _ in $(seq 1 300); do
		[ -s "$d/port" ] && return 0
		sleep 0.05
	done
	echo "tlsbench: server $d did not start:" >&2
	tail -n 20 "$d/log" >&2
	exit 1
}
start http
start https --tls-cert "$W/srv.pem" --tls-key "$W/srv.key"

# one SCHEME OP CONNS: loadgen's "MB/s s/GB" for one measured run.
one() {
	local scheme=$1 op=$2 conns=$3 d=$W/$1 akid secret out args
	read -r _ akid secret < <(grep '^s1 ' "$d/creds")
	args=(--url "$scheme://127.0.0.1:$(cat "$d/port")" --bucket level-s1 --conns "$conns"
		--size 16M --unsigned-payload --server-pid "$(cat "$d/pid")" --json)
	[ "$scheme" = https ] && args+=(--cacert "$W/ca.pem")
	if [ "$op" = get ]; then
		args+=(--op get --total 640M --verify)
	else
		args+=(--total $((conns == 1 ? 256 : 640))M)
	fi
	out=$(AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret "$LG" "${args[@]}") || {
		echo "tlsbench: loadgen failed ($scheme $op $conns)" >&2
		exit 1
	}
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.1f %.3f" % (j["mb_per_s"], j.get("server_cpu_s_per_gb") or 0))' "$out"
}

# GETs need the objects: one untimed PUT round per scheme first.
for s in http https; do one "$s" put 10 >/dev/null; done

printf '%-22s %12s %12s %10s %10s %8s\n' workload "http MB/s" "https MB/s" "http s/GB" "https s/GB" ratio
for wl in "put 1" "put 10" "get 10"; do
	set -- $wl
	declare -A mb=() gb=()
	for r in $(seq 0 "$ROUNDS"); do
		for s in http https; do
			read -r m g < <(one "$s" "$1" "$2")
			[ "$r" -eq 0 ] && continue # warm-up
			mb[$s]+="$m "
			gb[$s]+="$g "
		done
	done
	python3 - "$1 x$2 conns" "${mb[http]}" "${mb[https]}" "${gb[http]}" "${gb[https]}" <<'EOF'
import statistics, sys
name, a, b, ga, gb = sys.argv[1:]
med = lambda s: statistics.median(float(x) for x in s.split())
ma, mb_ = med(a), med(b)
print("%-22s %12.1f %12.1f %10.3f %10.3f %7.2fx" % (name, ma, mb_, med(ga), med(gb), mb_ / ma))
EOF
	unset mb gb
done
echo "(medians of $ROUNDS rounds after a warm-up; ratio = https / http MB/s; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
