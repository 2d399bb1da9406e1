#!/usr/bin/env bash
# bench/peers.sh: cryptstored against its peers, all measured in ONE run on this machine.
#
# Rows (each: one warm-up, then --runs timed runs; median and min-max reported):
#   iperf3 -P 2 and -P 1 over loopback ........ the network-copy ceiling
#   nc | openssl enc -aes-256-cbc > tmpfs ...... the original paper's user-space pipeline
#   nginx WebDAV, plaintext on tmpfs ........... the plain HTTP baseline of every workload
#   nginx WebDAV into a gocryptfs mount ........ an encrypted-filesystem peer (cipher dir on tmpfs)
#   cryptstored (demo mode, data on tmpfs, --sync false; variants --etag-md5 false,
#                --md5-batch false and --suite aes-256-gcm)
# Every HTTP peer is driven by the same load generator (build-release/bench/loadgen) sending the
# same bytes (loadgen's fixed pattern); the nc pipeline sends a file nginx stored from that
# pattern.  All servers run side by side for the whole run, and the peers of one workload are
# measured in interleaved rounds (run k of every peer, then run k+1, the order rotating), so
# that the machine's changing load (it is shared) falls on all of them alike.  Ratios are
# against iperf3 -P 2 and against nginx plaintext on the same workload, both from this run.
# Run with --help for the options; results go to --out (results.md, results.csv, raw.csv,
# env.txt, logs/, the generated nginx configurations).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-release
OUT=/var/tmp/cs-peers
SHM=/dev/shm
RUNS=3
CLIENTS=100
SIZE_MIB=16
BIG_MIB=1024
IDLE=900
IPERF_T=5
LG_THREADS=1
INSTALL=1
SKIP=,

usage() {
	cat <<EOF
usage: bench/peers.sh [options]

Measures, in one run, the peers of cryptstored on this machine and prints a Markdown
table (also written to OUT/results.md, with OUT/results.csv and the per-run OUT/raw.csv):

  iperf3 -P 2, -P 1     loopback TCP, ${IPERF_T} s each (the network-copy reference; iperf3 before
                        3.16 runs its streams on one thread, so -P 2 is no hard ceiling)
  nc | openssl enc      1 GiB through 'nc -l | openssl enc -aes-256-cbc > FILE on tmpfs'
  nginx                 WebDAV PUT/GET on tmpfs (plaintext), driven by loadgen --mode http
  nginx + gocryptfs     the same into a gocryptfs mount whose cipher dir is on tmpfs
  cryptstored           demo mode on tmpfs, --sync false, loadgen --mode s3 (UNSIGNED-PAYLOAD,
                        and one signed-payload row); variants --etag-md5 false,
                        --md5-batch false and --suite aes-256-gcm; ${IDLE} idle +
                        ${CLIENTS} busy connections with the server's peak VmRSS

Workloads: C clients x S MiB PUT, 1 x B MiB PUT, C x S MiB GET, M idle + C x S MiB PUT
(C=$CLIENTS, S=$SIZE_MIB, B=$BIG_MIB, M=$IDLE by default).  Each measurement: one warm-up (a
quarter of the requests, without the idle connections; the whole object for the
single-client rows; GETs --verify their bodies), then N timed runs; objects are deleted
between runs.  The peers of one workload run in interleaved rounds.  MB = 10^6 bytes.
Server CPU s/GB: loadgen --server-pid (nginx: master and workers; gocryptfs rows add the
gocryptfs process; the nc row: the receiving nc and openssl).  Peak RSS: VmRSS sampled
every 0.1 s (nginx: master and workers, plus gocryptfs), for cryptstored also VmHWM.

Options:
  --out DIR         results and logs (default $OUT)
  --runs N          timed runs per measurement after the warm-up (default $RUNS)
  --build DIR       meson build directory with bench/loadgen, server/cryptstored and
                    cli/cryptstore (default $BUILD)
  --shm DIR         tmpfs for the data (default $SHM)
  --clients C       busy clients of the many-client rows (default $CLIENTS)
  --size MIB        object size of the many-client rows (default $SIZE_MIB)
  --big MIB         object size of the single-client rows and of the nc transfer (default $BIG_MIB)
  --idle M          idle connections of the many-connection rows (default $IDLE)
  --iperf-time S    seconds of each iperf3 run (default $IPERF_T)
  --lg-threads T    loadgen event-loop threads (default $LG_THREADS)
  --skip LIST       comma-separated peers to leave out: iperf3,nc,nginx,gocryptfs,cryptstored
  --no-install      never apt-get install missing tools (by default, as root, it installs
                    what is missing of iperf3 netcat-openbsd nginx gocryptfs fuse3 jq)
  -h, --help        this text

The data of the GET rows of three peers sits on the tmpfs at once (3 x C x S).  If the
tmpfs, or the free memory behind it, is too small, the object sizes are halved until the
run fits, and the output says so.  Every process the script starts (nginx, iperf3,
nc/openssl, cryptstored, gocryptfs) is stopped and the gocryptfs mount unmounted on exit.
Exit status: 0 the table was produced (rows may be skipped or failed, with the reason
shown), 1 a fatal error, 2 bad usage.
EOF
}

die() {
	printf 'peers.sh: %s\n' "$*" >&2
	exit 1
}
note() { printf '%s\n' "$*" >&2; }

while (($#)); do
	case $1 in
	--out) OUT=${2:?--out needs a value}; shift ;;
	--runs) RUNS=${2:?--runs needs a value}; shift ;;
	--build) BUILD=${2:?--build needs a value}; shift ;;
	--shm) SHM=${2:?--shm needs a value}; shift ;;
	--clients) CLIENTS=${2:?--clients needs a value}; shift ;;
	--size) SIZE_MIB=${2:?--size needs a value}; shift ;;
	--big) BIG_MIB=${2:?--big needs a value}; shift ;;
	--idle) IDLE=${2:?--idle needs a value}; shift ;;
	--iperf-time) IPERF_T=${2:?--iperf-time needs a value}; shift ;;
	--lg-threads) LG_THREADS=${2:?--lg-threads needs a value}; shift ;;
	--skip) SKIP=,${2:?--skip needs a value},; shift ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; printf '\npeers.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
	esac
	shift
done
for v in RUNS CLIENTS SIZE_MIB BIG_MIB IDLE IPERF_T LG_THREADS; do
	o=${v,,}; o=--${o/_mib/}; o=${o/lg_/lg-}; o=${o/iperf_t/iperf-time}
	[[ ${!v} =~ ^[0-9]+$ ]] || { printf 'peers.sh: %s: expected a whole number, got %s\n' "$o" "${!v}" >&2; exit 2; }
done
((RUNS >= 1 && CLIENTS >= 1 && SIZE_MIB >= 1 && BIG_MIB >= 1 && IPERF_T >= 1 && LG_THREADS >= 1)) ||
	{ echo 'peers.sh: --runs, --clients, --size, --big, --iperf-time and --lg-threads must be >= 1' >&2; exit 2; }
((BIG_MIB <= 5120)) || { echo 'peers.sh: --big: at most 5120 (loadgen and S3 take 5 GiB in one PUT)' >&2; exit 2; }
for p in ${SKIP//,/ }; do
	case $p in iperf3 | nc | nginx | gocryptfs | cryptstored) ;; *) echo "peers.sh: --skip: unknown peer $p" >&2; exit 2 ;; esac
done
skipped() { [[ $SKIP == *",$1,"* ]]; }

LOADGEN=$BUILD/bench/loadgen
CSD=$BUILD/server/cryptstored
CSCLI=$BUILD/cli/cryptstore
T_START=$EPOCHREALTIME

# ---- tools ----------------------------------------------------------------------------------

# need CMD PACKAGE: CMD on PATH, installing PACKAGE when allowed.  Returns 1 if missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if ((INSTALL)) && ((EUID == 0)) && command -v apt-get >/dev/null; then
		note "peers.sh: $1 missing; apt-get install -y --no-install-recommends $2"
		if [[ -z ${APT_UPDATED:-} ]]; then
			apt-get update -qq >/dev/null 2>&1 || note "peers.sh: apt-get update failed"
			APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
			>/dev/null 2>"$OUT/apt-$2.log" || note "peers.sh: could not install $2 (see $OUT/apt-$2.log)"
	fi
	command -v "$1" >/dev/null 2>&1 && return 0
	note "peers.sh: $1 not found (Debian package $2; install it, or run as root without --no-install)"
	return 1
}

mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
for t in "jq jq" "ss iproute2" "openssl openssl" "awk gawk" "mountpoint util-linux" "setsid util-linux"; do
	read -r cmd pkg <<<"$t"
	need "$cmd" "$pkg" || die "$cmd is required"
done
[[ -x $LOADGEN ]] || die "no $LOADGEN: build it first (ninja -C $BUILD)"
"$LOADGEN" --help >/dev/null 2>&1 || die "$LOADGEN --help fails: is loadgen finished and built?"

# Which peers can run, and why not.  Reasons end up in the table.
declare -A WHYNOT=()
for p in iperf3 nc nginx gocryptfs cryptstored; do
	skipped "$p" && WHYNOT[$p]="left out (--skip $p)"
done
[[ -n ${WHYNOT[iperf3]:-} ]] || need iperf3 iperf3 || WHYNOT[iperf3]="iperf3 not installed"
if [[ -z ${WHYNOT[nc]:-} ]]; then
	if ! need nc netcat-openbsd; then
		WHYNOT[nc]="nc not installed (netcat-openbsd)"
	elif ! nc -h 2>&1 | grep -q OpenBSD; then
		WHYNOT[nc]="nc is not netcat-openbsd (needs -N and 'nc -l HOST PORT')"
	fi
fi
if [[ -z ${WHYNOT[nginx]:-} ]]; then
	if ! need nginx nginx; then
		WHYNOT[nginx]="nginx not installed"
	elif ! nginx -V 2>&1 | grep -q http_dav_module; then
		WHYNOT[nginx]="this nginx has no http_dav_module"
	fi
fi
[[ -n ${WHYNOT[nginx]:-} && -z ${WHYNOT[gocryptfs]:-} ]] && WHYNOT[gocryptfs]="needs nginx: ${WHYNOT[nginx]}"
if [[ -z ${WHYNOT[gocryptfs]:-} ]]; then
	if ! need gocryptfs gocryptfs || ! need fusermount fuse3; then
		WHYNOT[gocryptfs]="gocryptfs or fusermount (fuse3) not installed"
	elif [[ ! -c /dev/fuse ]]; then
		WHYNOT[gocryptfs]="no /dev/fuse in this container, so no FUSE mount (a container needs --device /dev/fuse and CAP_SYS_ADMIN)"
	fi
fi
if [[ -z ${WHYNOT[cryptstored]:-} ]]; then
	[[ -x $CSD ]] || WHYNOT[cryptstored]="no $CSD (ninja -C $BUILD)"
	[[ -x $CSCLI ]] || WHYNOT[cryptstored]="no $CSCLI (ninja -C $BUILD)"
fi

# ---- space ----------------------------------------------------------------------------------

[[ -d $SHM && -w $SHM ]] || die "$SHM is not a writable directory"
[[ $(stat -f -c %T "$SHM") == tmpfs ]] || note "peers.sh: warning: $SHM is not a tmpfs"
SCALE_NOTE=
shm_avail_mib() {
	local df mem
	df=$(df -Pm "$SHM" | awk 'NR == 2 { print $4 }')
	# tmpfs pages are memory: keep 2 GiB of MemAvailable for the servers and the others here.
	mem=$(awk '/^MemAvailable:/ { print int($2 / 1024) - 2048 }' /proc/meminfo)
	echo $((df < mem ? df : mem))
}
# The most data at once: the GET objects of nginx, gocryptfs and cryptstored (3 x C x S, plus
# gocryptfs' and the container format's few % of overhead), or the nc transfer's source and
# encrypted copy; 25% and 256 MiB of margin.
need_mib() {
	local a=$((3 * CLIENTS * SIZE_MIB)) b=$((2 * BIG_MIB))
	echo $((((a > b ? a : b) * 5 / 4) + 256))
}
AVAIL_MIB=$(shm_avail_mib)
SIZE0=$SIZE_MIB BIG0=$BIG_MIB NEED0=$(need_mib)
while ((3 * CLIENTS * SIZE_MIB * 5 / 4 + 256 > AVAIL_MIB && SIZE_MIB > 1)); do
	SIZE_MIB=$((SIZE_MIB / 2))
done
while ((2 * BIG_MIB * 5 / 4 + 256 > AVAIL_MIB && BIG_MIB > 1)); do
	BIG_MIB=$((BIG_MIB / 2))
done
if ((SIZE_MIB != SIZE0 || BIG_MIB != BIG0)); then
	SCALE_NOTE="SCALED DOWN: $SHM has ${AVAIL_MIB} MiB usable (the lower of df and MemAvailable - 2 GiB), the full run needs ${NEED0} MiB; objects are ${SIZE_MIB} MiB (not ${SIZE0}) and the single object ${BIG_MIB} MiB (not ${BIG0}). Compare these figures only with each other."
	note "peers.sh: $SCALE_NOTE"
fi
(($(need_mib) <= AVAIL_MIB)) || die "$SHM has only $AVAIL_MIB MiB usable; even 1 MiB objects need $(need_mib) MiB"

# ---- processes, clean-up ----------------------------------------------------------------------

WORK=$(mktemp -d "$SHM/cs-peers.XXXXXX") || die "cannot create a directory under $SHM"
chmod 700 "$WORK"
declare -A PROCS=() # pid -> what, for the trap
MOUNT=
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${!PROCS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	if [[ -n $MOUNT ]] && mountpoint -q "$MOUNT"; then
		fusermount -u "$MOUNT" 2>/dev/null || fusermount -uz "$MOUNT" 2>/dev/null
	fi
	for pid in "${!PROCS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$WORK" "$OUT/cs-default" "$OUT/cs-nomd5" "$OUT/cs-md5one" "$OUT/cs-gcm"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started() { PROCS[$1]=$2; } # started PID WHAT: the trap stops it
stop_pid() {                # stop_pid PID [SIGNAL]: stop one process we started, wait for it
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
wait_listen() { # wait_listen PORT [PID]: until something listens on PORT (PID: gives up if it dies)
	for _ in $(seq 500); do
		[[ -n $(ss -Htln "sport = :$1") ]] && return 0
		[[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.02
	done
	return 1
}

# CPU clock ticks of one process (all threads, and the children it reaped).
TCK=$(getconf CLK_TCK)
ticks() {
	local s f
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[11] + f[12] + f[13] + f[14]))
}

# rss_sampler FILE PID...: every 0.1 s, the sum of VmRSS of the PIDs and of the first one's
# children (nginx's workers), the largest seen written to FILE in KiB.  Bash reads, to stay light.
rss_sampler() {
	local file=$1 max=0 cur k v _ p
	shift
	while :; do
		cur=0
		for p in "$@" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
			while read -r k v _; do
				[[ $k == VmRSS: ]] && { cur=$((cur + v)); break; }
			done 2>/dev/null <"/proc/$p/status"
		done
		((cur > max)) && { max=$cur; echo "$max" >"$file"; }
		sleep 0.1
	done
}
RSS_PID=
rss_start() { # rss_start FILE PID...
	echo 0 >"$1"
	rss_sampler "$@" &
	RSS_PID=$!
	started "$RSS_PID" "rss sampler"
}
rss_stop() {
	[[ -n $RSS_PID ]] && stop_pid "$RSS_PID"
	RSS_PID=
}

LOGS=$OUT/logs
rm -rf "$LOGS"
mkdir -p "$LOGS"

# ---- rows and results -------------------------------------------------------------------------

declare -A LABEL=() WORKLOAD=() STATUS=() MED=() MINV=() MAXV=() CPU=() RSS=() NOTE=() LOAD=()
declare -A RUNFN=() RUNARGS=() L_MB=() L_CPU=() L_RSS=() SECS=()
ORDER=()
BASE_IPERF=iperf-p2
declare -A BASE_NGINX=([put]=nginx-put [put1]=nginx-put1 [get]=nginx-get [idle]=nginx-idle [stream]=nginx-put1)
W_PUT="$CLIENTS x $SIZE_MIB MiB PUT"
W_PUT1="1 x $BIG_MIB MiB PUT"
W_GET="$CLIENTS x $SIZE_MIB MiB GET"
W_IDLE="$IDLE idle + $CLIENTS x $SIZE_MIB MiB PUT"
W_STREAM="1 x $BIG_MIB MiB stream"
RAW=$OUT/raw.csv
echo "id,run,mb_per_s,server_cpu_s_per_gb,rss_peak_kib,loadavg1,seconds" >"$RAW"
echo "id,run,vmhwm_kib,rss_sampled_kib" >"$LOGS/vmhwm.csv"

workload_text() { # ID
	case ${WORKLOAD[$1]} in
	net) echo "TCP, ${1#iperf-p} stream(s), ${IPERF_T} s" ;;
	stream) echo "$W_STREAM" ;; put) echo "$W_PUT" ;; put1) echo "$W_PUT1" ;;
	get) echo "$W_GET" ;; idle) echo "$W_IDLE" ;;
	esac
}
# row ID PEER LABEL WORKLOAD-KIND FUNCTION ARGS...: one row of the table, measured by
# FUNCTION ID RUN ARGS... (run 0 is the warm-up), which sets R_MBS (and R_CPU, R_RSS, R_NOTE)
# and returns non-zero on failure.
row() {
	local id=$1 peer=$2
	ORDER+=("$id")
	LABEL[$id]=$3
	WORKLOAD[$id]=$4
	RUNFN[$id]=$5
	shift 5
	RUNARGS[$id]="$*"
	STATUS[$id]=pending
	[[ -n ${WHYNOT[$peer]:-} ]] && skip_row "$id" "${WHYNOT[$peer]}"
	return 0
}
skip_row() { STATUS[$1]=skipped; NOTE[$1]=$2; }
pending() { [[ ${STATUS[$1]:-} == pending ]]; }

R_MBS='' R_CPU='' R_RSS='' R_NOTE=''

# median_min_max VALUES...: "median min max" of the numeric values (nothing if none).
median_min_max() {
	printf '%s\n' "$@" | awk '$1 ~ /^[0-9.eE+-]+$/' | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR == 0) exit
		      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      print m, v[1], v[NR] }'
}

# measure_group ID...: the warm-up of every row, then run 1 of every row, and so on (the order
# rotating by one each round), so that the rows of one workload share the machine's moods.
measure_group() {
	local ids=() id i k n t0 la med lo hi secs rc
	for id; do pending "$id" && ids+=("$id"); done
	n=${#ids[@]}
	((n > 0)) || return 0
	for id in "${ids[@]}"; do
		LOAD[$id]=$(cut -d' ' -f1 /proc/loadavg)
		L_MB[$id]='' L_CPU[$id]='' L_RSS[$id]='' SECS[$id]=0
	done
	for ((i = 0; i <= RUNS; i++)); do
		for ((k = 0; k < n; k++)); do
			id=${ids[(k + i) % n]}
			pending "$id" || continue
			R_MBS='' R_CPU='' R_RSS='' R_NOTE=''
			la=$(cut -d' ' -f1 /proc/loadavg)
			t0=$EPOCHREALTIME
			# shellcheck disable=SC2086 # RUNARGS is a list of words
			"${RUNFN[$id]}" "$id" "$i" ${RUNARGS[$id]}
			rc=$?
			secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
			SECS[$id]=$(awk -v a="${SECS[$id]}" -v b="$secs" 'BEGIN { print a + b }')
			if ((rc != 0)) || [[ -z $R_MBS ]]; then
				STATUS[$id]=failed
				NOTE[$id]="$( ((i == 0)) && echo warm-up || echo "run $i") failed: ${R_NOTE:-see $LOGS}"
				printf '%-8s %-15s %-34s FAILED: %s\n' "$( ((i == 0)) && echo warm-up || echo "run $i")" \
					"$id" "$(workload_text "$id")" "${NOTE[$id]}" >&2
				continue
			fi
			printf '%-8s %-15s %-34s %7.0f MB/s %6.1f s  load %s\n' \
				"$( ((i == 0)) && echo warm-up || echo "run $i")" "$id" "$(workload_text "$id")" \
				"$R_MBS" "$secs" "$la" >&2
			((i == 0)) && continue
			echo "$id,$i,$R_MBS,$R_CPU,$R_RSS,$la,$secs" >>"$RAW"
			L_MB[$id]+=" $R_MBS" L_CPU[$id]+=" $R_CPU" L_RSS[$id]+=" $R_RSS"
			[[ -n $R_NOTE ]] && NOTE[$id]=$R_NOTE
		done
	done
	for id in "${ids[@]}"; do
		pending "$id" || continue
		# shellcheck disable=SC2086 # lists of numbers
		read -r med lo hi <<<"$(median_min_max ${L_MB[$id]})"
		MED[$id]=$med MINV[$id]=$lo MAXV[$id]=$hi
		# shellcheck disable=SC2086
		read -r med _ _ <<<"$(median_min_max ${L_CPU[$id]})"
		CPU[$id]=$med
		# shellcheck disable=SC2086
		read -r _ _ hi <<<"$(median_min_max ${L_RSS[$id]})"
		RSS[$id]=$hi
		STATUS[$id]=ok
	done
}

# ---- iperf3 ----------------------------------------------------------------------------------

run_iperf() { # ID RUN STREAMS
	local id=$1 i=$2 par=$3 port spid json=$LOGS/$1.$2.json
	port=$(free_port) || { R_NOTE="no free port"; return 1; }
	iperf3 -s -1 -p "$port" >"$LOGS/$id.$i.server.log" 2>&1 &
	spid=$!
	started "$spid" "iperf3 server"
	wait_listen "$port" "$spid" || { R_NOTE="iperf3 -s did not listen"; stop_pid "$spid"; return 1; }
	iperf3 -c 127.0.0.1 -p "$port" -P "$par" -t "$IPERF_T" -J >"$json" 2>"$json.err"
	stop_pid "$spid"
	R_MBS=$(jq -r '.end.sum_received.bits_per_second / 8 / 1e6' "$json" 2>/dev/null)
	if [[ ! $R_MBS =~ ^[0-9.]+$ ]]; then
		R_MBS=''
		R_NOTE="iperf3 failed: $(jq -r '.error // empty' "$json" 2>/dev/null)"
		return 1
	fi
}

# ---- loadgen ---------------------------------------------------------------------------------

# workload_args KIND RUN: loadgen's arguments for a workload into WL_ARGS, its key prefix into
# WL_PREFIX.  The warm-up (run 0) sends a quarter of the requests on the same connections (the
# whole object on a single connection), without the idle connections, and --verify for GETs.
workload_args() {
	local conns=$CLIENTS size=${SIZE_MIB}M
	WL_PREFIX=put-
	WL_ARGS=()
	case $1 in
	put1) conns=1 size=${BIG_MIB}M WL_PREFIX=big- ;;
	get) WL_PREFIX=get- WL_ARGS=(--op get)
	     (($2 == 0)) && WL_ARGS+=(--verify) ;;
	idle) (($2 > 0)) && WL_ARGS=(--idle "$IDLE") ;;
	esac
	WL_ARGS+=(--conns "$conns" --size "$size" --prefix "$WL_PREFIX")
	(($2 == 0 && conns > 1)) && WL_ARGS+=(--requests $(((conns + 3) / 4)))
	return 0
}

# lg ID RUN CPU-PID RSS-PIDS EXTRA-CPU-PID loadgen-args...: one loadgen run with --json and
# --server-pid CPU-PID, RSS sampled meanwhile; EXTRA-CPU-PID's CPU time (gocryptfs) is added
# to the server's.  Sets R_MBS R_CPU R_RSS (R_NOTE on failure).
lg() {
	local id=$1 i=$2 spid=$3 rpids=$4 xpid=$5 json=$LOGS/$1.$2.json x0=0 x1=0 rc
	shift 5
	# shellcheck disable=SC2086 # rpids is a list of PIDs
	rss_start "$LOGS/$id.$i.rss" $rpids
	[[ -n $xpid ]] && x0=$(ticks "$xpid")
	# --timeout: on this shared machine 100 concurrent uploads can take minutes each.
	"$LOADGEN" --json --threads "$LG_THREADS" --timeout 600 --server-pid "$spid" "$@" \
		>"$json" 2>"$json.err"
	rc=$?
	[[ -n $xpid ]] && x1=$(ticks "$xpid")
	rss_stop
	R_RSS=$(cat "$LOGS/$id.$i.rss")
	if [[ ! -s $json ]] || ! jq -e . "$json" >/dev/null 2>&1; then
		R_NOTE="loadgen exit $rc: $(head -c 300 "$json.err" | tr '\n' ' ')"
		return 1
	fi
	if ((rc != 0)); then
		R_NOTE="loadgen exit $rc, errors $(jq -c .errors_by "$json"): $(head -c 300 "$json.err" | tr '\n' ' ')"
		return 1
	fi
	R_MBS=$(jq -r .mb_per_s "$json")
	R_CPU=$(jq -r '.server_cpu_s_per_gb // empty' "$json")
	if [[ -n $xpid && -n $R_CPU ]]; then
		R_CPU=$(jq -r --argjson t "$((x1 - x0))" --argjson hz "$TCK" \
			'(.server_cpu_s + $t / $hz) / (.bytes / 1e9)' "$json")
	fi
	if (($(jq -r .idle "$json") > 0)); then
		R_NOTE=$(jq -r '"\(.idle_open_at_end) of \(.idle) idle connections still open at the end"' "$json")
	fi
	return 0
}

# ---- nginx -----------------------------------------------------------------------------------

declare -A NGX_PID=() NGX_PORT=() NGX_ROOT=() NGX_WHY=()
nginx_start() { # NAME ROOT BODY-TEMP-DIR: a private nginx serving ROOT (WebDAV PUT, GET)
	local name=$1 root=$2 tmp=$3 conf=$OUT/nginx-$1.conf port pid t
	port=$(free_port) || { NGX_WHY[$name]="no free port"; return 1; }
	mkdir -p "$root" "$tmp" "$WORK/nginx-$name-tmp" || { NGX_WHY[$name]="cannot create $root"; return 1; }
	{
		echo "# generated by bench/peers.sh: nginx WebDAV PUT/GET ($name)"
		echo "daemon off;"
		echo "worker_processes auto;"
		((EUID == 0)) && echo "user root;"
		echo "worker_rlimit_nofile 8192;"
		echo "pid $WORK/nginx-$name.pid;"
		echo "error_log $LOGS/nginx-$name.error.log warn;"
		echo "events { worker_connections 4096; }"
		echo "http {"
		echo "    access_log off;"
		echo "    sendfile on;"
		echo "    tcp_nopush on;"
		echo "    keepalive_timeout 300s;"
		echo "    keepalive_requests 100000;"
		echo "    client_max_body_size 0;"
		echo "    client_body_buffer_size 1m;"
		echo "    client_body_temp_path $tmp;"
		for t in proxy fastcgi uwsgi scgi; do
			echo "    ${t}_temp_path $WORK/nginx-$name-tmp/$t;"
		done
		echo "    default_type application/octet-stream;"
		echo "    server {"
		echo "        listen 127.0.0.1:$port;"
		echo "        root $root;"
		echo "        location / {"
		echo "            dav_methods PUT DELETE;"
		echo "            create_full_put_path on;"
		echo "            dav_access user:rw;"
		echo "        }"
		echo "    }"
		echo "}"
	} >"$conf"
	if ! nginx -t -q -e "$LOGS/nginx-$name.error.log" -p "$WORK/" -c "$conf" >"$LOGS/nginx-$name.test.log" 2>&1; then
		NGX_WHY[$name]="nginx -t: $(head -c 300 "$LOGS/nginx-$name.test.log" | tr '\n' ' ')"
		return 1
	fi
	nginx -e "$LOGS/nginx-$name.error.log" -p "$WORK/" -c "$conf" 2>"$LOGS/nginx-$name.stderr" &
	pid=$!
	started "$pid" "nginx $name"
	if ! wait_listen "$port" "$pid"; then
		NGX_WHY[$name]="nginx did not start: $(tail -c 300 "$LOGS/nginx-$name.error.log" 2>/dev/null | tr '\n' ' ')"
		stop_pid "$pid"
		return 1
	fi
	NGX_PID[$name]=$pid NGX_PORT[$name]=$port NGX_ROOT[$name]=$root
}
nginx_stop() { # NAME (TERM: the fast shutdown, the master stops its workers)
	[[ -n ${NGX_PID[$1]:-} ]] && stop_pid "${NGX_PID[$1]}" TERM
	unset "NGX_PID[$1]"
}

clean_dir() { find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' -exec rm -rf {} + 2>/dev/null; }

run_http() { # ID RUN INSTANCE KIND: one loadgen run against one of our nginx
	local id=$1 i=$2 inst=$3 kind=$4 xpid='' rc
	[[ $inst == gocryptfs ]] && xpid=$GC_PID
	workload_args "$kind" "$i"
	lg "$id" "$i" "${NGX_PID[$inst]}" "${NGX_PID[$inst]} $xpid" "$xpid" --mode http \
		--url "http://127.0.0.1:${NGX_PORT[$inst]}" "${WL_ARGS[@]}"
	rc=$?
	[[ $kind == get ]] || clean_dir "${NGX_ROOT[$inst]}"
	return $rc
}

# ---- nc | openssl ------------------------------------------------------------------------------

run_nc() { # ID RUN
	local id=$1 i=$2 port ppid t0 t1 key iv cpu bytes out
	port=$(free_port) || { R_NOTE="no free port"; return 1; }
	key=$(openssl rand -hex 32)
	iv=$(openssl rand -hex 16)
	bytes=$(stat -c %s "$WORK/nc-src")
	# The receiving side, timed by bash (its user and sys time: nc -l and openssl), in a
	# session of its own, so that the trap can stop it whole.
	# shellcheck disable=SC2016 # the inner shell expands its own $1..$4
	setsid bash -c 'TIMEFORMAT="CPU %R %U %S"; time { nc -l 127.0.0.1 "$1" | openssl enc -aes-256-cbc -K "$2" -iv "$3" >"$4"; }' \
		_ "$port" "$key" "$iv" "$WORK/nc-dst" 2>"$LOGS/$id.$i.log" &
	ppid=$!
	started "$ppid" "nc | openssl"
	wait_listen "$port" "$ppid" || { R_NOTE="nc -l did not listen"; stop_pid "$ppid"; return 1; }
	t0=$EPOCHREALTIME
	nc -N 127.0.0.1 "$port" <"$WORK/nc-src" 2>>"$LOGS/$id.$i.log"
	wait "$ppid"
	t1=$EPOCHREALTIME
	unset "PROCS[$ppid]"
	cpu=$(awk '$1 == "CPU" { print $3 + $4 }' "$LOGS/$id.$i.log")
	out=$(stat -c %s "$WORK/nc-dst" 2>/dev/null || echo 0)
	rm -f "$WORK/nc-dst"
	if ((out != bytes / 16 * 16 + 16)); then
		R_NOTE="openssl wrote $out bytes for $bytes: $(head -c 200 "$LOGS/$id.$i.log" | tr '\n' ' ')"
		return 1
	fi
	R_MBS=$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.3f", b / (z - a) / 1e6 }')
	[[ -n $cpu ]] && R_CPU=$(awk -v c="$cpu" -v b="$bytes" 'BEGIN { printf "%.4f", c / (b / 1e9) }')
	return 0
}

# ---- gocryptfs ---------------------------------------------------------------------------------

GC_PID='' GC_WHY=''
gocryptfs_up() { # cipher dir and passphrase file on tmpfs, mounted at OUT/gocryptfs-mnt
	local cipher=$WORK/gocryptfs-cipher pass=$WORK/gocryptfs.pass mnt=$OUT/gocryptfs-mnt
	if mountpoint -q "$mnt"; then
		GC_WHY="$mnt is already a mount point (a previous run's?): fusermount -u $mnt"
		return 1
	fi
	mkdir -p "$cipher" "$mnt"
	(umask 077 && openssl rand -hex 32 >"$pass")
	if ! gocryptfs -init -q -passfile "$pass" "$cipher" >"$LOGS/gocryptfs-init.log" 2>&1; then
		GC_WHY="gocryptfs -init failed: $(head -c 200 "$LOGS/gocryptfs-init.log" | tr '\n' ' ')"
		return 1
	fi
	MOUNT=$mnt
	gocryptfs -fg -q -passfile "$pass" "$cipher" "$mnt" >"$LOGS/gocryptfs.log" 2>&1 &
	GC_PID=$!
	started "$GC_PID" gocryptfs
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$GC_PID" 2>/dev/null || break
		sleep 0.05
	done
	GC_WHY="the FUSE mount failed (is FUSE usable in this container?): $(head -c 300 "$LOGS/gocryptfs.log" | tr '\n' ' ')"
	gocryptfs_down
	return 1
}
gocryptfs_down() {
	if [[ -n $MOUNT ]] && mountpoint -q "$MOUNT"; then
		fusermount -u "$MOUNT" 2>>"$LOGS/gocryptfs.log" || { sleep 1; fusermount -u "$MOUNT" 2>>"$LOGS/gocryptfs.log"; }
	fi
	[[ -n $GC_PID ]] && stop_pid "$GC_PID"
	GC_PID=''
	MOUNT=''
}

# ---- cryptstored -------------------------------------------------------------------------------

declare -A CS_PID=() CS_PORT=() CS_AK=() CS_SK=() CS_WHY=()
CS_BUCKET=level-s0
cs_start() { # NAME EXTRA-ARGS...: demo mode, data on tmpfs, keys and logs under OUT
	local name=$1 d pid
	shift
	d=$OUT/cs-$name
	rm -rf "$d" "${WORK:?}/cs-$name"
	mkdir -p "$d" "$WORK/cs-$name" && chmod 700 "$d"
	"$CSD" --port 0 --port-file "$d/port" --data-dir "$WORK/cs-$name/data" --keys-dir "$d/keys" \
		--root-key "$d/root.key" --admin-socket "$d/admin.sock" --audit-dir "$d/audit" \
		--init-demo true --credentials-file "$d/creds" --sync false --log-level warn "$@" \
		>"$LOGS/cs-$name.stdout" 2>"$LOGS/cs-$name.log" &
	pid=$!
	started "$pid" "cryptstored $name"
	for _ in $(seq 600); do
		[[ -s $d/port && -s $d/creds ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -s $d/port || ! -s $d/creds ]] || ! wait_listen "$(cat "$d/port")" "$pid"; then
		CS_WHY[$name]="cryptstored did not start: $(tail -c 300 "$LOGS/cs-$name.log" | tr '\n' ' ')"
		stop_pid "$pid"
		return 1
	fi
	CS_PID[$name]=$pid
	CS_PORT[$name]=$(cat "$d/port")
	read -r _ "CS_AK[$name]" "CS_SK[$name]" < <(grep '^s0 ' "$d/creds")
}
cs_stop() { # NAME
	[[ -n ${CS_PID[$1]:-} ]] && stop_pid "${CS_PID[$1]}"
	unset "CS_PID[$1]"
	# a throw-away demo keystore: its keys, credentials and audit log go with it
	rm -rf "${WORK:?}/cs-$1" "${OUT:?}/cs-$1"
}
cs_env() { # NAME COMMAND...: COMMAND with the demo identity's s0 key in its environment only
	local name=$1
	shift
	AWS_ACCESS_KEY_ID=${CS_AK[$name]} AWS_SECRET_ACCESS_KEY=${CS_SK[$name]} \
		AWS_ENDPOINT_URL=http://127.0.0.1:${CS_PORT[$name]} "$@"
}
cs_rm() { # NAME PREFIX: delete the objects under PREFIX
	cs_env "$1" "$CSCLI" rm -q -r "s3://$CS_BUCKET/$2" >>"$LOGS/cs-rm.log" 2>&1
}

run_s3() { # ID RUN INSTANCE KIND [signed]
	local id=$1 i=$2 inst=$3 kind=$4 signed=${5:-} args pid=${CS_PID[$3]} hwm rc
	workload_args "$kind" "$i"
	args=("${WL_ARGS[@]}")
	[[ $signed == signed || $kind == get ]] || args+=(--unsigned-payload)
	echo 5 2>/dev/null >"/proc/$pid/clear_refs" # reset VmHWM, the peak RSS
	cs_env "$inst" lg "$id" "$i" "$pid" "$pid" "" --url "http://127.0.0.1:${CS_PORT[$inst]}" \
		--bucket "$CS_BUCKET" "${args[@]}"
	rc=$?
	# The sampler may miss a short peak; VmHWM (reset above) does not.
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	echo "$id,$i,$hwm,$R_RSS" >>"$LOGS/vmhwm.csv"
	[[ -n $hwm && -n $R_RSS ]] && ((hwm > R_RSS)) && R_RSS=$hwm
	[[ $kind == get ]] || cs_rm "$inst" "$WL_PREFIX"
	return $rc
}

# ---- the rows, in table order ------------------------------------------------------------------

row iperf-p2 iperf3 "iperf3 -P 2 (loopback)" net run_iperf 2
row iperf-p1 iperf3 "iperf3 -P 1 (loopback)" net run_iperf 1
row nc-openssl nc "nc -l \\| openssl enc -aes-256-cbc > tmpfs" stream run_nc
row nginx-put nginx "nginx WebDAV, plaintext" put run_http plain put
row nginx-put1 nginx "nginx WebDAV, plaintext" put1 run_http plain put1
row nginx-get nginx "nginx WebDAV, plaintext" get run_http plain get
row nginx-idle nginx "nginx WebDAV, plaintext" idle run_http plain idle
row gocryptfs-put gocryptfs "nginx WebDAV -> gocryptfs" put run_http gocryptfs put
row gocryptfs-put1 gocryptfs "nginx WebDAV -> gocryptfs" put1 run_http gocryptfs put1
row gocryptfs-get gocryptfs "nginx WebDAV -> gocryptfs" get run_http gocryptfs get
row cs-put cryptstored "cryptstored" put run_s3 default put
row cs-put-signed cryptstored "cryptstored, signed payload" put run_s3 default put signed
row cs-put1 cryptstored "cryptstored" put1 run_s3 default put1
row cs-get cryptstored "cryptstored" get run_s3 default get
row cs-put-nomd5 cryptstored "cryptstored --etag-md5 false" put run_s3 nomd5 put
row cs-put-md5one cryptstored "cryptstored --md5-batch false" put run_s3 md5one put
row cs-put-gcm cryptstored "cryptstored --suite aes-256-gcm" put run_s3 gcm put
row cs-idle cryptstored "cryptstored" idle run_s3 default idle

# Raise the descriptor limit for the many-connection rows (the servers inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if ((IDLE + CLIENTS + 64 > $(ulimit -n))); then
	note "peers.sh: the open-file limit $(ulimit -n) is below $((IDLE + CLIENTS + 64)): the idle rows may fail"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "loadavg at start: $LOAD_START"
	echo "tmpfs: $SHM, $AVAIL_MIB MiB usable at start, $(need_mib) MiB needed"
	echo "runs: $RUNS after one warm-up; $CLIENTS x $SIZE_MIB MiB; 1 x $BIG_MIB MiB; $IDLE idle; loadgen threads $LG_THREADS"
	command -v nginx >/dev/null && echo "nginx: $(nginx -v 2>&1)"
	command -v gocryptfs >/dev/null && echo "gocryptfs: $(gocryptfs -version 2>&1 | head -1)"
	command -v iperf3 >/dev/null && echo "iperf3: $(iperf3 --version 2>&1 | head -1)"
	echo "openssl: $(openssl version)"
	[[ -x $CSD ]] && echo "cryptstored: $("$CSD" --version 2>&1 | head -1)"
	[[ -n $SCALE_NOTE ]] && echo "$SCALE_NOTE"
	for p in iperf3 nc nginx gocryptfs cryptstored; do
		[[ -n ${WHYNOT[$p]:-} ]] && echo "not measured: $p: ${WHYNOT[$p]}"
	done
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2
echo >&2

# ---- the servers, all up for the whole run -------------------------------------------------------

# for_rows PREFIX REASON: skip the pending rows whose id starts with PREFIX.
skip_rows() {
	local id
	for id in "${ORDER[@]}"; do
		[[ $id == "$1"* ]] && pending "$id" && skip_row "$id" "$2"
	done
	return 0
}
if [[ -z ${WHYNOT[nginx]:-} ]]; then
	nginx_start plain "$WORK/www" "$WORK/www-tmp" || skip_rows nginx- "${NGX_WHY[plain]}"
fi
if [[ -z ${WHYNOT[gocryptfs]:-} ]]; then
	if ! gocryptfs_up; then
		skip_rows gocryptfs- "$GC_WHY"
	elif ! nginx_start gocryptfs "$MOUNT/www" "$MOUNT/nginx-tmp"; then
		skip_rows gocryptfs- "${NGX_WHY[gocryptfs]}"
	fi
fi
if [[ -z ${WHYNOT[cryptstored]:-} ]]; then
	cs_start default || skip_rows cs- "${CS_WHY[default]}"
	cs_start nomd5 --etag-md5 false || skip_row cs-put-nomd5 "${CS_WHY[nomd5]}"
	cs_start md5one --md5-batch false || skip_row cs-put-md5one "${CS_WHY[md5one]}"
	cs_start gcm --suite aes-256-gcm || skip_row cs-put-gcm "${CS_WHY[gcm]}"
fi

# ---- the measurements, workload by workload ----------------------------------------------------

measure_group iperf-p2 iperf-p1
measure_group nginx-put gocryptfs-put cs-put cs-put-signed cs-put-nomd5 cs-put-md5one cs-put-gcm

# The nc pipeline sends the bytes loadgen PUTs: a 1 x B MiB object nginx stored from them.
if pending nc-openssl; then
	if [[ -n ${NGX_PID[plain]:-} ]] && "$LOADGEN" --mode http --url "http://127.0.0.1:${NGX_PORT[plain]}" \
		--conns 1 --size "${BIG_MIB}M" --prefix src- >"$LOGS/nc-src.log" 2>&1; then
		mv "$WORK/www/src-0-0" "$WORK/nc-src"
	else
		# no nginx: any incompressible bytes do for this row
		openssl enc -aes-256-ctr -pbkdf2 -pass pass:peers -in /dev/zero 2>/dev/null |
			head -c "$((BIG_MIB << 20))" >"$WORK/nc-src"
	fi
fi
measure_group nginx-put1 gocryptfs-put1 cs-put1 nc-openssl
rm -f "$WORK/nc-src" "$WORK/nc-dst"

# The GET rows' objects, PUT once by loadgen (not measured), deleted after the rows.
prep_args=(--conns "$CLIENTS" --size "${SIZE_MIB}M" --prefix get-)
for inst in plain gocryptfs; do
	id=nginx-get
	[[ $inst == gocryptfs ]] && id=gocryptfs-get
	pending "$id" || continue
	"$LOADGEN" --mode http --url "http://127.0.0.1:${NGX_PORT[$inst]}" "${prep_args[@]}" \
		>"$LOGS/$id.prepare.log" 2>&1 || skip_row "$id" "could not PUT the objects to GET (see $LOGS/$id.prepare.log)"
done
if pending cs-get; then
	cs_env default "$LOADGEN" --url "http://127.0.0.1:${CS_PORT[default]}" --bucket "$CS_BUCKET" \
		--unsigned-payload "${prep_args[@]}" >"$LOGS/cs-get.prepare.log" 2>&1 ||
		skip_row cs-get "could not PUT the objects to GET (see $LOGS/cs-get.prepare.log)"
fi
measure_group nginx-get gocryptfs-get cs-get
[[ -n ${NGX_ROOT[plain]:-} ]] && clean_dir "${NGX_ROOT[plain]}"
[[ -n ${NGX_ROOT[gocryptfs]:-} ]] && clean_dir "${NGX_ROOT[gocryptfs]}"
[[ -n ${CS_PID[default]:-} ]] && cs_rm default get-

measure_group nginx-idle cs-idle

for n in "${!CS_PID[@]}"; do cs_stop "$n"; done
for n in "${!NGX_PID[@]}"; do nginx_stop "$n"; done
gocryptfs_down

# ---- the table ---------------------------------------------------------------------------------

ratio() { # A B: A/B with 2 decimals, or nothing
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf "%.2f\n", a / b }'
}
fmt() { # VALUE PRINTF-FORMAT: formatted, or "-"
	awk -v v="$1" -v f="$2" 'BEGIN { if (v == "") print "-"; else printf f "\n", v }'
}
csvq() { local s=${1//\"/\"\"}; printf '"%s"' "$s"; }

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
CSV=$OUT/results.csv
MD=$OUT/results.md
echo "id,peer,workload,status,runs,mb_per_s_median,mb_per_s_min,mb_per_s_max,x_iperf3_p2,x_nginx_same_workload,server_cpu_s_per_gb,rss_peak_mib,loadavg1_at_start,seconds,note" >"$CSV"
{
	echo "## Peers: cryptstored against iperf3, nc|openssl, nginx and gocryptfs ($(date -u +%Y-%m-%d))"
	echo
	echo "\`bench/peers.sh --runs $RUNS\`: the median of $RUNS runs after a warm-up, and their min-max;"
	echo "MB/s = 10^6 bytes/s of payload; ratios of medians against iperf3 -P 2 and against nginx"
	echo "plaintext on the same workload; the peers of one workload measured in interleaved rounds."
	echo "Load average $LOAD_START at the start, $LOAD_END at the end (1, 5, 15 min; $(nproc) CPUs);"
	echo "the run took ${ELAPSED} s."
	echo "Rows of different workloads ran at different moments: compare across them with care."
	[[ -n $SCALE_NOTE ]] && { echo; echo "**$SCALE_NOTE**"; }
	above=()
	if [[ ${STATUS[$BASE_IPERF]} == ok ]]; then
		for id in "${ORDER[@]}"; do
			[[ ${STATUS[$id]} == ok && $id != iperf-* ]] || continue
			awk -v a="${MED[$id]}" -v b="${MED[$BASE_IPERF]}" 'BEGIN { exit !(a > b) }' && above+=("$id")
		done
	fi
	if ((${#above[@]} > 0)); then
		echo
		echo "Above iperf3 -P 2: ${above[*]}. iperf3 before 3.16 runs all its -P streams on one"
		echo "thread, so on loopback it is not a ceiling for servers that use both cores."
	fi
	echo
	echo "| peer | workload | MB/s | min-max | x iperf3 -P2 | x nginx | server CPU s/GB | peak RSS MiB | note |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for id in "${ORDER[@]}"; do
		w=$(workload_text "$id")
		st=${STATUS[$id]}
		n=${NOTE[$id]:-}
		xi='' xn='' rss_mib=''
		if [[ $st == ok ]]; then
			[[ ${STATUS[$BASE_IPERF]} == ok ]] && xi=$(ratio "${MED[$id]}" "${MED[$BASE_IPERF]}")
			bn=${BASE_NGINX[${WORKLOAD[$id]}]:-}
			[[ -n $bn && ${STATUS[$bn]:-} == ok ]] && xn=$(ratio "${MED[$id]}" "${MED[$bn]}")
			[[ -n ${RSS[$id]:-} && ${RSS[$id]} != 0 ]] &&
				rss_mib=$(awk -v k="${RSS[$id]}" 'BEGIN { printf "%.0f", k / 1024 }')
			printf '| %s | %s | %s | %s-%s | %s | %s | %s | %s | %s |\n' "${LABEL[$id]}" "$w" \
				"$(fmt "${MED[$id]}" %.0f)" "$(fmt "${MINV[$id]}" %.0f)" "$(fmt "${MAXV[$id]}" %.0f)" \
				"$(fmt "$xi" %.2fx)" "$(fmt "$xn" %.2fx)" "$(fmt "${CPU[$id]:-}" %.2f)" "${rss_mib:--}" "$n"
		else
			echo "| ${LABEL[$id]} | $w | - | - | - | - | - | - | **$st**: $n |"
		fi
		printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$id" "$(csvq "${LABEL[$id]//\\|/|}")" \
			"$(csvq "$w")" "$st" "$([[ $st == ok ]] && echo "$RUNS" || echo 0)" "${MED[$id]:-}" \
			"${MINV[$id]:-}" "${MAXV[$id]:-}" "$xi" "$xn" "${CPU[$id]:-}" "$rss_mib" "${LOAD[$id]:-}" \
			"${SECS[$id]:-}" "$(csvq "$n")" >>"$CSV"
	done
} >"$MD"
echo >&2
cat "$MD"
echo >&2
note "results: $MD, $CSV, per run: $RAW; logs and the generated configurations: $OUT"
