# bench/paper/common.sh: helpers shared by the paper's table scripts (sourced, never run).
#
# Every table script measures in interleaved rounds: one warm-up round, then --runs timed rounds,
# each round running every row once (the order rotating by one each round), so that the shared
# machine's changing load falls on all rows alike; a row's figure is the median of its timed
# runs.  Ratios are taken against a baseline row of the same run.  MB = 10^6 bytes.
# Processes a script starts are registered with `started` and stopped by the EXIT trap;
# mounts and loop devices registered with `mounted` / `looped` are undone there too.

PAPER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$PAPER_DIR/../.." && pwd)
BUILD=$ROOT/build-release
OUT=$PAPER_DIR/out
RUNS=3
INSTALL=1
SHM=/dev/shm

# The running kernel's configuration, if it exposes it (for the reasons a row cannot run).
KCONFIG=$(zcat /proc/config.gz 2>/dev/null)
note() { printf '%s\n' "$*" >&2; }
die() {
	printf '%s: %s\n' "$ME" "$*" >&2
	exit 1
}

# need CMD PACKAGE: CMD on PATH, installing Debian's PACKAGE when allowed; 1 if still missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if ((INSTALL)) && ((EUID == 0)) && command -v apt-get >/dev/null; then
		note "$ME: $1 missing; apt-get install -y --no-install-recommends $2"
		if [[ -z ${APT_UPDATED:-} ]]; then
			apt-get update -qq >/dev/null 2>&1 || note "$ME: apt-get update failed"
			APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
			--no-install-recommends "$2" >/dev/null 2>&1 || note "$ME: could not install $2"
	fi
	command -v "$1" >/dev/null 2>&1 && return 0
	note "$ME: $1 not found (Debian package $2)"
	return 1
}

check_count() { # NAME VALUE: a whole number >= 1, or exit 2
	[[ $2 =~ ^[0-9]+$ ]] && (($2 >= 1)) && return 0
	printf '%s: %s: expected a whole number >= 1, got %s\n' "$ME" "$1" "$2" >&2
	exit 2
}

# ---- processes, mounts, clean-up -----------------------------------------------------------------

declare -A PROCS=()
MOUNTS=()
LOOPS=()
WORK=
cleanup() {
	local rc=$? pid m i
	trap - EXIT INT TERM
	for pid in "${!PROCS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		mountpoint -q "$m" 2>/dev/null || continue
		case $(stat -f -c %T "$m" 2>/dev/null) in
		fuseblk | fuse*) fusermount -u "$m" 2>/dev/null || fusermount -uz "$m" 2>/dev/null ;;
		*) umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ;;
		esac
	done
	for m in "${LOOPS[@]}"; do losetup -d "$m" 2>/dev/null; done
	for pid in "${!PROCS[@]}"; do
		for _ in $(seq 20); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	[[ -n $WORK ]] && rm -rf "$WORK"
	[[ -n ${WORK2:-} ]] && rm -rf "$WORK2"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started() { PROCS[$1]=$2; } # started PID WHAT
mounted() { MOUNTS+=("$1"); }
looped() { LOOPS+=("$1"); }
stop_pid() { # PID [SIGNAL]: stop one process we started and wait for it
	local pid=$1 sig=${2:-TERM}
	[[ -n $pid ]] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "PROCS[$pid]"
}

free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		[[ -z $(ss -Htan "sport = :$p") ]] && { echo "$p"; return 0; }
	done
	return 1
}
wait_listen() { # PORT [PID]: until something listens on 127.0.0.1:PORT (gives up if PID dies)
	for _ in $(seq 500); do
		[[ -n $(ss -Htln "sport = :$1") ]] && return 0
		[[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.02
	done
	return 1
}

# drop_file_cache FILE...: drop the page cache of these files only (posix_fadvise DONTNEED via
# GNU dd), so that a read comes from the device without touching the rest of a shared machine.
drop_file_cache() {
	local f
	for f; do dd if="$f" iflag=nocache count=0 status=none 2>/dev/null; done
	return 0
}
drop_tree_cache() { # DIR: every regular file under DIR
	find "$1" -type f -exec dd iflag=nocache count=0 status=none if={} \; 2>/dev/null
	return 0
}

now() { echo "$EPOCHREALTIME"; }
mbps() { # BYTES T0 T1: MB/s
	awk -v b="$1" -v a="$2" -v z="$3" 'BEGIN { if (z > a) printf "%.1f\n", b / (z - a) / 1e6 }'
}

# ---- rounds, medians, ratios -------------------------------------------------------------------

# median VALUES...: the median of the numeric values (nothing if none).
median() {
	printf '%s\n' "$@" | awk '$1 ~ /^[0-9.eE+-]+$/' | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR == 0) exit
		      printf "%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minmax() { # VALUES...: "min-max"
	printf '%s\n' "$@" | awk '$1 ~ /^[0-9.eE+-]+$/' | sort -g | awk '
		{ v[NR] = $1 } END { if (NR) printf "%.0f-%.0f\n", v[1], v[NR] }'
}
ratio() { # A B: A/B, 2 decimals, or "-"
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf "%.2f\n", a / b; else print "-" }'
}
fmt0() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else printf "%.0f\n", v }'; }

# Results: VALS[id] holds the space-separated run values of a measurement id, XVALS[id] a second
# figure per run if measure gave one (server CPU s/GB), WHY[id] why it has none.  run_rounds ID...
# calls measure ID RUN for run 0 (warm-up) .. RUNS, interleaved; measure prints the value (MB/s)
# and optionally a second figure on stdout and returns non-zero on failure (its stderr explains).
# measure runs in this shell (what it starts, it registers with `started` and stops itself).
declare -A VALS=() XVALS=() WHY=()
run_rounds() {
	local ids=("$@") n=$# i k id v x rc
	for ((i = 0; i <= RUNS; i++)); do
		for ((k = 0; k < n; k++)); do
			id=${ids[(k + i) % n]}
			[[ -n ${WHY[$id]:-} ]] && continue
			measure "$id" "$i" >"$LOGS/$id.$i.out" 2>"$LOGS/$id.$i.err"
			rc=$?
			read -r v x <"$LOGS/$id.$i.out"
			if ((rc != 0)) || [[ ! $v =~ ^[0-9.]+$ ]]; then
				WHY[$id]="failed in $( ((i == 0)) && echo warm-up || echo "run $i"): $(tail -c 240 "$LOGS/$id.$i.err" | tr '\n' ' ')"
				note "$(printf '%-8s %-24s FAILED %s' "$( ((i == 0)) && echo warm-up || echo "run $i")" "$id" "${WHY[$id]}")"
				continue
			fi
			note "$(printf '%-8s %-24s %9s MB/s  load %s' "$( ((i == 0)) && echo warm-up || echo "run $i")" "$id" "$v" "$(cut -d' ' -f1 /proc/loadavg)")"
			((i == 0)) && continue
			VALS[$id]+=" $v"
			[[ -n $x ]] && XVALS[$id]+=" $x"
			echo "$id,$i,$v,$x" >>"$RAWCSV"
		done
	done
}
med() { # ID: median of its runs, or nothing
	# shellcheck disable=SC2086 # a list of numbers
	[[ -z ${WHY[$1]:-} ]] && median ${VALS[$1]:-}
}
xmed() { # ID: median of its second figures, or nothing
	# shellcheck disable=SC2086
	[[ -z ${WHY[$1]:-} ]] && median ${XVALS[$1]:-}
}
spread() {
	# shellcheck disable=SC2086
	[[ -z ${WHY[$1]:-} ]] && minmax ${VALS[$1]:-}
}

# env_lines: the machine and the date, for the head of a table.
env_lines() {
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
	echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(openssl version | cut -d' ' -f1-2);"
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine is shared)."
}

# init_out TABLE: OUT exists, LOGS and RAWCSV set.
init_out() {
	mkdir -p "$OUT" || die "cannot create $OUT"
	OUT=$(cd "$OUT" && pwd)
	LOGS=$OUT/logs/$1
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	RAWCSV=$OUT/$1.raw.csv
	echo "id,run,mb_per_s,second" >"$RAWCSV"
}

# Common options; a script's own parser calls this for the ones it does not know.
# Returns the number of words consumed (1 or 2) in SHIFT_N, or 0 when unknown.
common_opt() {
	SHIFT_N=2
	case $1 in
	--runs) RUNS=${2:?--runs needs a value} ;;
	--out) OUT=${2:?--out needs a value} ;;
	--build) BUILD=${2:?--build needs a value} ;;
	--shm) SHM=${2:?--shm needs a value} ;;
	--no-install) INSTALL=0 SHIFT_N=1 ;;
	*) SHIFT_N=0 ;;
	esac
}
COMMON_HELP="  --runs N          timed runs per row after one warm-up (default $RUNS; the median is shown)
  --out DIR         where TABLE.md, TABLE.dat (for gnuplot), TABLE.raw.csv and logs/ go
                    (default bench/paper/out)
  --build DIR       meson build directory with server/cryptstored and bench/loadgen
                    (default build-release, as 'make bench' uses)
  --shm DIR         a tmpfs, the paper's RAM disk (default /dev/shm)
  --no-install      never apt-get install a missing tool (by default, as root, it does)
  -h, --help        this text"

# cryptstored in demo mode: cs_start NAME DATA-DIR EXTRA-ARGS...; sets CS_PID CS_PORT CS_AK CS_SK.
cs_start() {
	local name=$1 data=$2 d pid
	shift 2
	d=$WORK/cs-$name
	mkdir -p "$d" && chmod 700 "$d"
	"$BUILD/server/cryptstored" --port 0 --port-file "$d/port" --data-dir "$data" \
		--keys-dir "$d/keys" --root-key "$d/root.key" --admin-socket "$d/admin.sock" \
		--audit-dir "$d/audit" --init-demo true --credentials-file "$d/creds" \
		--log-level warn "$@" >"$LOGS/cs-$name.stdout" 2>"$LOGS/cs-$name.log" &
	pid=$!
	started "$pid" "cryptstored $name"
	for _ in $(seq 600); do
		[[ -s $d/port && -s $d/creds ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -s $d/port || ! -s $d/creds ]] || ! wait_listen "$(cat "$d/port")" "$pid"; then
		CS_WHY="cryptstored did not start: $(tail -c 240 "$LOGS/cs-$name.log" | tr '\n' ' ')"
		stop_pid "$pid"
		return 1
	fi
	CS_PID=$pid
	CS_PORT=$(cat "$d/port")
	read -r _ CS_AK CS_SK < <(grep '^s0 ' "$d/creds")
}
CS_BUCKET=level-s0

# lg_s3 ARGS...: loadgen against the cryptstored of cs_start (s0 identity, UNSIGNED-PAYLOAD).
lg_s3() {
	AWS_ACCESS_KEY_ID=$CS_AK AWS_SECRET_ACCESS_KEY=$CS_SK "$BUILD/bench/loadgen" --json \
		--timeout 600 --url "http://127.0.0.1:$CS_PORT" --bucket "$CS_BUCKET" "$@"
}
# lg_result JSON-FILE: the MB/s of a successful loadgen run, or fail with its errors.
lg_result() {
	local ok
	ok=$(jq -r 'if .errors == 0 and .ok > 0 then .mb_per_s else empty end' "$1" 2>/dev/null)
	[[ -n $ok ]] || { jq -c '{errors_by, ok}' "$1" >&2 2>/dev/null || cat "$1" >&2; return 1; }
	echo "$ok"
}

# build_srvmodels: cc the paper's server models (bench/paper/srvmodels.c) into WORK, not with
# meson (bench/meson.build is not ours to extend): a plain optimised, warnings-as-errors build.
build_srvmodels() {
	SRVMODELS=$WORK/srvmodels
	need cc gcc || return 1
	cc -O2 -std=c11 -Wall -Wextra -Werror -o "$SRVMODELS" "$PAPER_DIR/srvmodels.c" -lcrypto \
		-lpthread >"$LOGS/srvmodels.cc.log" 2>&1 ||
		{ note "$ME: srvmodels.c did not build: $(head -c 400 "$LOGS/srvmodels.cc.log")"; return 1; }
}
# sm_start MODEL DIR: one srvmodels server; sets SM_PID SM_PORT.
sm_start() {
	local pf=$WORK/sm-$1.port
	rm -f "$pf"
	"$SRVMODELS" --model "$1" --dir "$2" --port-file "$pf" 2>"$LOGS/srvmodels-$1.log" &
	SM_PID=$!
	started "$SM_PID" "srvmodels $1"
	for _ in $(seq 200); do
		[[ -s $pf ]] && break
		kill -0 "$SM_PID" 2>/dev/null || return 1
		sleep 0.02
	done
	SM_PORT=$(cat "$pf" 2>/dev/null)
	[[ -n $SM_PORT ]] && wait_listen "$SM_PORT" "$SM_PID"
}
