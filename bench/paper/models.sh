#!/usr/bin/env bash
# bench/paper/models.sh: the paper's filemover server models (single process without and with
# encryption, multithreaded, forked) beside cryptstored, at 1, 10 and 100 clients
# (docs/PAPER.md, section 4).  See --help.
set -uo pipefail
ME=models.sh
# shellcheck source=bench/paper/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TOTAL_MIB=256
CLIENTS="1 10 100"

usage() {
	cat <<EOF
usage: bench/paper/models.sh [options]

The paper's server-model table: a client streams data to a server that writes it to a RAM
disk, plainly or encrypting every buffer first (AES-256-CBC).  The server is
bench/paper/srvmodels.c, compiled by this script with 'cc -O2 -Wall -Wextra -Werror ...
-lcrypto -lpthread' into a temporary directory (not with meson: bench/meson.build belongs to
the benchmarks proper); the clients are bench/loadgen --mode http (one PUT per connection,
C connections at once, each sending TOTAL/C bytes).  Models:

  single        one process, no encryption (the paper's first row; the baseline)
  single-enc    one process, encrypting each 64 KiB record (OpenSSL EVP)
  thread-io     a new thread per record (the paper's "multithreaded server")
  fork-io       a new process per record (the paper's "forked server")
  thread-conn   a thread per connection, encrypting
  fork-conn     a process per connection, encrypting
  cryptstored   the real server, default settings (AES-256-CBC + HMAC-SHA-256 in 32 KiB
                chunks, MD5 ETag) but --sync false (the models do not fsync either), data on
                the same tmpfs, loadgen --mode s3 --unsigned-payload

At each client count: one warm-up, then --runs timed runs in interleaved rounds; the median
MB/s (10^6 bytes/s of body), the server's CPU seconds per GB (loadgen --server-pid: the
server's threads and reaped children), and the ratio to 'single' at the same client count.

Options:
  --total MIB       bytes sent per run, split over the clients (default $TOTAL_MIB; the paper
                    copied one 500 MB file)
  --clients LIST    client counts (default "$CLIENTS")
$COMMON_HELP

Writes OUT/models.md, OUT/models.dat, OUT/models.raw.csv.  Exit: 0 table produced, 1 error,
2 bad usage.
EOF
}

while (($#)); do
	case $1 in
	--total) TOTAL_MIB=${2:?--total needs a value}; shift ;;
	--clients) CLIENTS=${2:?--clients needs a value}; shift ;;
	-h | --help) usage; exit 0 ;;
	*)
		common_opt "$@"
		((SHIFT_N)) || { usage >&2; printf '\n%s: unknown option %s\n' "$ME" "$1" >&2; exit 2; }
		shift $((SHIFT_N - 1))
		;;
	esac
	shift
done
check_count --runs "$RUNS"
check_count --total "$TOTAL_MIB"
for c in $CLIENTS; do check_count --clients "$c"; done
for t in "jq jq" "ss iproute2" "openssl openssl"; do
	read -r cmd pkg <<<"$t"
	need "$cmd" "$pkg" || die "$cmd is required"
done
[[ -x $BUILD/bench/loadgen ]] || die "no $BUILD/bench/loadgen (build it: ninja -C $BUILD)"
init_out models
WORK=$(mktemp -d "$SHM/h2-models.XXXXXX") || die "cannot create a directory under $SHM"
build_srvmodels || die "cannot build srvmodels"
ulimit -n "$(ulimit -Hn)" 2>/dev/null

MODELS=(single single-enc thread-io fork-io thread-conn fork-conn)
declare -A SMPID=() SMPORT=()
for m in "${MODELS[@]}"; do
	mkdir -p "$WORK/data-$m"
	if sm_start "$m" "$WORK/data-$m"; then
		SMPID[$m]=$SM_PID SMPORT[$m]=$SM_PORT
	else
		WHY[$m]="srvmodels --model $m did not start: $(head -c 200 "$LOGS/srvmodels-$m.log")"
	fi
done
CS_OK=0
if [[ -x $BUILD/server/cryptstored ]]; then
	cs_start models "$WORK/cs-data" --sync false && CS_OK=1
else
	CS_WHY="no $BUILD/server/cryptstored"
fi

# measure MODEL@C RUN: prints "MB/s server-CPU-s/GB".
measure() {
	local m=${1%@*} c=${1##*@} json=$LOGS/$1.$2.json size mbs
	size=$(((TOTAL_MIB << 20) / c))
	if [[ $m == cryptstored ]]; then
		lg_s3 --unsigned-payload --conns "$c" --size "$size" --server-pid "$CS_PID" >"$json" 2>"$json.err"
	else
		"$BUILD/bench/loadgen" --json --timeout 600 --mode http --url "http://127.0.0.1:${SMPORT[$m]}" \
			--conns "$c" --size "$size" --server-pid "${SMPID[$m]}" >"$json" 2>"$json.err"
		find "$WORK/data-$m" -type f -delete
	fi
	mbs=$(lg_result "$json") || { cat "$json.err" >&2; return 1; }
	echo "$mbs $(jq -r '.server_cpu_s_per_gb // empty' "$json")"
}

ALL=("${MODELS[@]}" cryptstored)
for c in $CLIENTS; do
	ids=()
	for m in "${ALL[@]}"; do
		if [[ $m == cryptstored ]] && ((!CS_OK)); then
			WHY[$m@$c]=${CS_WHY:-cryptstored did not start}
		elif [[ -n ${WHY[$m]:-} ]]; then
			WHY[$m@$c]=${WHY[$m]}
		fi
		ids+=("$m@$c")
	done
	note "$ME: $c client(s), ${#ids[@]} servers x (1 warm-up + $RUNS runs) x $TOTAL_MIB MiB"
	run_rounds "${ids[@]}"
done
declare -A DESC=(
	[single]="single process, no encryption"
	[single-enc]="single process, with encryption"
	[thread-io]="multithreaded: a thread per record, with encryption"
	[fork-io]="forked: a process per record, with encryption"
	[thread-conn]="a thread per connection, with encryption"
	[fork-conn]="a process per connection, with encryption"
	[cryptstored]="cryptstored (default, --sync false)"
)
{
	echo "### 4. Server models, $TOTAL_MIB MiB per run over 1 to $(echo "$CLIENTS" | awk '{ print $NF }') clients, into a tmpfs"
	echo
	env_lines
	echo "\`bench/paper/models.sh --runs $RUNS --total $TOTAL_MIB\`: median of $RUNS runs after a warm-up,"
	echo "the servers of one client count measured in interleaved rounds; MB/s = 10^6 bytes/s of"
	echo "body; x = ratio to the single plain process at the same client count, from this run;"
	echo "CPU = the server's CPU seconds per GB received."
	echo
	printf '| server model |'
	for c in $CLIENTS; do printf ' %s client%s MB/s | x | CPU s/GB |' "$c" "$( ((c > 1)) && echo s)"; done
	echo
	printf '| --- |'
	for c in $CLIENTS; do printf ' ---: | ---: | ---: |'; done
	echo
	for m in "${ALL[@]}"; do
		printf '| %s |' "${DESC[$m]}"
		for c in $CLIENTS; do
			if [[ -n ${WHY[$m@$c]:-} ]]; then
				printf ' - | - | %s |' "not measured: ${WHY[$m@$c]}"
			else
				printf ' %s (%s) | %s | %s |' "$(fmt0 "$(med "$m@$c")")" "$(spread "$m@$c")" \
					"$(ratio "$(med "$m@$c")" "$(med "single@$c")")" \
					"$(awk -v v="$(xmed "$m@$c")" 'BEGIN { if (v == "") print "-"; else printf "%.2f", v }')"
			fi
		done
		echo
	done
	echo
	echo "(min-max of the runs in brackets.)"
} >"$OUT/models.md"
{
	printf '# model'
	for c in $CLIENTS; do printf ' c%s' "$c"; done
	echo
	for m in "${ALL[@]}"; do
		printf '"%s"' "$m"
		for c in $CLIENTS; do v=$(med "$m@$c"); printf ' %s' "${v:-NaN}"; done
		echo
	done
} >"$OUT/models.dat"
cat "$OUT/models.md"
