#!/usr/bin/env bash
# bench/paper/speed.sh: the paper's `openssl speed -evp aes-256-cbc [-multi n]` sanity check,
# re-run on this machine (docs/PAPER.md, section 5).  See --help.
set -uo pipefail
ME=speed.sh
# shellcheck source=bench/paper/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECONDS_PER=1
PROCS_N=$(nproc)

usage() {
	cat <<EOF
usage: bench/paper/speed.sh [options]

The paper's last table: 'openssl speed -evp aes-256-cbc [-multi n]', 1 KiB blocks, one
process and n processes (the paper: 4 on two dual-core Opterons; here n = nproc = $PROCS_N).
Rows, each at 1 KiB (-bytes 1024), -seconds $SECONDS_PER, three ways: one process timed by its CPU
time (openssl speed's default: the speed of one core, whatever else runs), and one process and
-multi n timed by the wall clock (-elapsed: what the machine delivers, the paper's question;
OpenSSL 3.0 times -multi children by the wall clock anyway, so only -elapsed compares them):

  aes-256-cbc EVP            the paper's command as it is: AES-NI on this CPU
  aes-256-cbc EVP, no AES-NI OPENSSL_ia32cap masks AES-NI: OpenSSL's SSSE3 vector-permute AES
  aes-256-cbc EVP, no AES-NI, no SSSE3
                             also SSSE3 masked: the table-based AES of OpenSSL 0.9.8b's day
  aes-256-cbc, non-EVP API   'openssl speed aes-256-cbc' (the deprecated AES_* calls)
  aes-256-gcm EVP            today's AEAD (cryptstore's other suite)
  des-ede3-cbc, des-cbc EVP  the paper's text compares AES-256 with 3DES and DES (DES needs
                             OpenSSL 3's legacy provider; skipped if it cannot be loaded)

Every cell: one warm-up, then --runs timed runs in interleaved rounds; the median MB/s
(10^6 bytes/s) of the 1 KiB column, the n-process total, n/1 scaling (wall clock), and the
ratio to the first row's per-CPU-second figure measured in the same run.

Options:
  --seconds S       -seconds of each openssl speed run (default $SECONDS_PER)
  --procs N         -multi N (default nproc = $PROCS_N)
$COMMON_HELP

Writes OUT/speed.md, OUT/speed.dat, OUT/speed.raw.csv.  Exit: 0 table produced, 1 error,
2 bad usage.
EOF
}

while (($#)); do
	case $1 in
	--seconds) SECONDS_PER=${2:?--seconds needs a value}; shift ;;
	--procs) PROCS_N=${2:?--procs needs a value}; shift ;;
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
check_count --seconds "$SECONDS_PER"
check_count --procs "$PROCS_N"
need openssl openssl || die "openssl is required"
init_out speed

# OPENSSL_ia32cap: bit 57 is AES-NI, bit 41 SSSE3 (the first 64-bit word, CPUID.1:ECX << 32).
NO_AESNI='~0x200000000000000'
NO_AESNI_SSSE3='~0x200020000000000'
declare -A LABEL=() CAP=() ARGS=()
ROWS=()
row() { # ID LABEL CAP ARGS...
	local id=$1
	ROWS+=("$id")
	LABEL[$id]=$2 CAP[$id]=$3
	shift 3
	ARGS[$id]="$*"
}
row cbc "aes-256-cbc, EVP (the paper's command)" "" -evp aes-256-cbc
row cbc-noaesni "aes-256-cbc, EVP, AES-NI masked" "$NO_AESNI" -evp aes-256-cbc
row cbc-table "aes-256-cbc, EVP, AES-NI and SSSE3 masked" "$NO_AESNI_SSSE3" -evp aes-256-cbc
row cbc-api "aes-256-cbc, non-EVP AES_* API" "" aes-256-cbc
row gcm "aes-256-gcm, EVP" "" -evp aes-256-gcm
row 3des "des-ede3-cbc, EVP" "" -evp des-ede3-cbc
row des "des-cbc, EVP (legacy provider)" "" -provider legacy -provider default -evp des-cbc

# measure ID RUN: ID is ROW.cpu, ROW.1 or ROW.n; prints MB/s of the 1 KiB column (summed over
# processes).
measure() {
	local r=${1%.*} p=${1##*.} multi=() algo args out
	[[ $p == n ]] && multi=(-multi "$PROCS_N")
	[[ $p == cpu ]] || multi+=(-elapsed)
	# shellcheck disable=SC2206 # ARGS is a list of words
	args=(${ARGS[$r]})
	algo=${args[-1]}
	unset 'args[-1]'
	out=$(env ${CAP[$r]:+OPENSSL_ia32cap=${CAP[$r]}} openssl speed -mr "${multi[@]}" \
		-bytes 1024 -seconds "$SECONDS_PER" "${args[@]}" "$algo" 2>&1)
	# -mr: "+F:n:ALGO:bytes-per-second" once per process with -multi ("Got: ... from k"), then
	# the sum; without -multi just the one line.  The last +F line is the total.
	awk -F: '/^\+F:/ && $0 !~ /^Got/ { v = $NF } END { if (v != "") printf "%.1f\n", v / 1e6; else exit 1 }' \
		<<<"$out" || { echo "$out" | tail -5 >&2; return 1; }
}

IDS=()
for r in "${ROWS[@]}"; do IDS+=("$r.cpu" "$r.1" "$r.n"); done
note "$ME: ${#IDS[@]} measurements x (1 warm-up + $RUNS runs) x ${SECONDS_PER} s"
run_rounds "${IDS[@]}"

BASE=$(med cbc.cpu)
{
	echo "### 5. openssl speed, 1 KiB blocks, 1 and $PROCS_N processes"
	echo
	env_lines
	echo "\`bench/paper/speed.sh --runs $RUNS --seconds $SECONDS_PER\`: median of $RUNS runs after a warm-up,"
	echo "rows measured in interleaved rounds; MB/s = 10^6 bytes/s.  \"per CPU-second\": one process"
	echo "timed by its own CPU time (openssl speed's default); \"wall\": timed by the clock (-elapsed),"
	echo "so they show the load of the shared machine; x EVP = ratio to the first row's per-CPU-second"
	echo "figure from this run."
	echo
	echo "| cipher and code path | 1 process, per CPU-second | x EVP | 1 process, wall | $PROCS_N processes, wall | $PROCS_N/1 (wall) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for r in "${ROWS[@]}"; do
		if [[ -n ${WHY[$r.cpu]:-} ]]; then
			echo "| ${LABEL[$r]} | - | - | - | - | not measured: ${WHY[$r.cpu]} |"
			continue
		fi
		c=$(med "$r.cpu") a=$(med "$r.1") b=$(med "$r.n")
		echo "| ${LABEL[$r]} | $(fmt0 "$c") ($(spread "$r.cpu")) | $(ratio "$c" "$BASE") | $(fmt0 "$a") ($(spread "$r.1")) | $(fmt0 "$b") ($(spread "$r.n")) | $(ratio "$b" "$a") |"
	done
	echo
	echo "(min-max of the runs in brackets.)"
} >"$OUT/speed.md"
{
	echo "# label one_proc_cpu one_proc_wall n_procs_wall"
	for r in "${ROWS[@]}"; do
		[[ -n ${WHY[$r.cpu]:-} ]] && continue
		printf '"%s" %s %s %s\n' "${LABEL[$r]}" "$(med "$r.cpu")" "$(med "$r.1")" "$(med "$r.n")"
	done
} >"$OUT/speed.dat"
cat "$OUT/speed.md"
