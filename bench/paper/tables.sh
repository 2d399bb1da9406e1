#!/usr/bin/env bash
# bench/paper/tables.sh: every table of the original paper except the user-vs-kernel AES loop
# (bench/paper/aes, bench/paper/kmod, bench/paper/vm.sh), re-measured on this machine, and the
# figures of docs/PAPER.md.  See --help.
set -uo pipefail
ME=tables.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$HERE/out
PLOTS=$ROOT/docs/paper
ONLY="storage network models speed"
PASS=()

usage() {
	cat <<EOF
usage: bench/paper/tables.sh [options]

Runs, one after the other (never at once: they would measure each other):

  storage.sh   raw disk, ext4 + fscrypt on a loop device (for dm-crypt), encfs, gocryptfs,
               openssl enc, cryptstored: write and read, 1 MiB blocks          (section 2)
  network.sh   iperf3 (for netperf), netcat, the filemover; raw and through SSH tunnels;
               nc | openssl enc; cryptstored PUT                               (section 3)
  models.sh    the filemover server models (bench/paper/srvmodels.c) and cryptstored at
               1, 10 and 100 clients                                           (section 4)
  speed.sh     openssl speed -evp aes-256-cbc, 1 KiB, 1 and nproc processes    (section 5)

Each writes its Markdown table to OUT/<table>.md (and prints it), OUT/<table>.dat for the
plots, OUT/<table>.raw.csv (every run) and OUT/logs/<table>/.  Then gnuplot draws
PLOTS/{storage,network,models,speed}.png from the .dat files.  Each script has --help.
The whole run took 14 minutes on 2 shared CPUs (load average 11-21).

Options:
  --only LIST       some of: storage network models speed (default: all)
  --out DIR         results (default bench/paper/out; generated, not committed)
  --plots DIR       where the PNGs go (default docs/paper)
  --no-plots        do not draw
  --runs N, --build DIR, --shm DIR, --no-install
                    passed to every script (defaults: 3 runs, build-release)
  -h, --help        this text

Exit status: 0 every table was produced, 1 one or more scripts failed, 2 bad usage.
EOF
}

DRAW=1
while (($#)); do
	case $1 in
	--only) ONLY=${2:?--only needs a value}; shift ;;
	--out) OUT=${2:?--out needs a value}; shift ;;
	--plots) PLOTS=${2:?--plots needs a value}; shift ;;
	--no-plots) DRAW=0 ;;
	--runs | --build | --shm) PASS+=("$1" "${2:?$1 needs a value}"); shift ;;
	--no-install) PASS+=("$1") ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; printf '\n%s: unknown option %s\n' "$ME" "$1" >&2; exit 2 ;;
	esac
	shift
done
for t in $ONLY; do
	case $t in storage | network | models | speed) ;; *) echo "$ME: --only: unknown table $t" >&2; exit 2 ;; esac
done
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)

rc=0
T0=$EPOCHREALTIME
for t in $ONLY; do
	t1=$EPOCHREALTIME
	printf '\n==== %s ====\n\n' "$t"
	if ! bash "$HERE/$t.sh" --out "$OUT" "${PASS[@]}"; then
		echo "$ME: $t.sh failed" >&2
		rc=1
	fi
	awk -v a="$t1" -v b="$EPOCHREALTIME" -v t="$t" 'BEGIN { printf "\n(%s: %.0f s)\n", t, b - a }'
done

if ((DRAW)); then
	if command -v gnuplot >/dev/null 2>&1 ||
		{ ((EUID == 0)) && [[ " ${PASS[*]} " != *" --no-install "* ]] &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
				--no-install-recommends gnuplot-nox >/dev/null 2>&1; }; then
		mkdir -p "$PLOTS"
		stamp="$(date -u +%Y-%m-%d), $(nproc) CPUs $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(openssl version | cut -d' ' -f1-2)"
		if gnuplot -e "indir='$OUT'; outdir='$PLOTS'; stamp='$stamp'" "$HERE/plot.gp"; then
			for t in $ONLY; do [[ -s $PLOTS/$t.png ]] && echo "plot: $PLOTS/$t.png"; done
		else
			echo "$ME: gnuplot failed" >&2
			rc=1
		fi
	else
		echo "$ME: gnuplot not installed (gnuplot-nox): no plots" >&2
	fi
fi
awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "\ntables.sh: %.0f s in all\n", b - a }'
exit $rc
