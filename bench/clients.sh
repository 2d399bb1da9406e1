#!/usr/bin/env bash
# bench/clients.sh: MB/s against the number of clients, one line per cryptstored variant (cipher
# suite, server model) and for plaintext nginx WebDAV, for the docs' "MB/s vs clients" figures.
# Every server runs side by side for the whole run; at each (workload, client count) the servers
# are measured in interleaved rounds (run k of every server before run k+1, the order rotating),
# so that the load of this shared machine falls on all of them alike.  See --help.
set -uo pipefail
ME=clients.sh
# The paper scripts' helpers: need, check_count, the EXIT trap (stops what `started` registered,
# removes WORK), stop_pid, free_port, wait_listen, cs_start, lg_s3, lg_result, run_rounds.
# shellcheck source=bench/paper/common.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/paper/common.sh"

OUT=/var/tmp/cs-clients
CLIENTS=1,10,100
SIZE_MIB=16
TOTAL_MIB=1600
LG_THREADS=1
NGINX=1
VARIANTS=()
DEFAULT_VARIANTS=(thread-cbc= "thread-gcm=--suite aes-256-gcm" "process-cbc=--model process"
	"process-gcm=--model process --suite aes-256-gcm")

usage() {
	cat <<EOF
usage: bench/clients.sh [options]

Throughput against the number of concurrent clients, per server variant.  A variant is
cryptstored (demo mode, data on the tmpfs, --sync false) started with extra arguments; plus,
unless --no-nginx, nginx WebDAV on the tmpfs (plaintext) as the reference.  For each client
count C: PUT, C connections each PUTting S MiB objects (at least T MiB a run, the same number
per connection; objects deleted after each run), then GET of C objects PUT once per server
before the GET rounds (C x S MiB per server, all servers' at once on the tmpfs).  Each
(workload, C): one warm-up (a quarter of the requests; GETs --verify the bodies), then N timed
runs, the servers interleaved.  Reported: median and min-max MB/s (10^6 bytes/s of body) and
the server's CPU seconds per GB (loadgen --server-pid; nginx: master and workers).

Options:
  --out DIR          results (default $OUT): results.md, results.csv, raw.csv,
                     env.txt, clients-put.png, clients-get.png, logs/
  --runs N           timed runs after the warm-up (default $RUNS)
  --build DIR        meson build directory with server/cryptstored, cli/cryptstore and
                     bench/loadgen (default $BUILD)
  --shm DIR          tmpfs for the servers' data (default $SHM)
  --clients LIST     comma-separated client counts (default $CLIENTS)
  --size MIB         object size (default $SIZE_MIB, at most 5120)
  --total MIB        data moved per timed run, at least (default $TOTAL_MIB: 100 x 16 MiB at
                     1 client); rounded up to whole objects per client
  --variant NAME=ARGS
                     a cryptstored variant, ARGS split at white space (no quoting); repeat
                     it; the first one replaces the defaults:
$(printf '                       %s\n' "${DEFAULT_VARIANTS[@]}")
                     A variant whose server does not start is reported as skipped, with the
                     end of its log as the reason.
  --no-nginx         leave out the nginx WebDAV reference
  --lg-threads T     loadgen event-loop threads (default $LG_THREADS)
  --no-install       never apt-get install a missing tool (by default, as root, it installs
                     gnuplot-nox for the figures, jq and nginx)
  -h, --help         this text

Figures: bench/clients.gp, run by gnuplot on results.csv (x: clients, log scale; y: MB/s; one
line per variant, min-max error bars); without gnuplot the PNGs are left out.
Space: before the GET rounds the script checks that every server's C x S MiB fit on the tmpfs
(and in MemAvailable less 2 GiB); GET rows at client counts that do not fit are skipped, and
the output says so.  Every process the script starts is stopped, and its tmpfs data removed,
on exit.  Exit status: 0 the table was produced (cells may be skipped or failed, with the
reasons below the table), 1 a fatal error, 2 bad usage.
EOF
}

bad() { printf '%s: %s\n' "$ME" "$*" >&2; exit 2; }
CMDLINE=bench/clients.sh # as typed, for the results' heads
for a; do [[ $a =~ ^[A-Za-z0-9_./,=:+-]+$ ]] && CMDLINE+=" $a" || CMDLINE+=" '$a'"; done
while (($#)); do
	case $1 in --out | --runs | --build | --shm | --clients | --size | --total | --variant | --lg-threads)
		(($# >= 2)) || bad "$1 needs a value" ;;
	esac
	n=2 # words taken
	case $1 in
	--clients) CLIENTS=$2 ;;
	--size) SIZE_MIB=$2 ;;
	--total) TOTAL_MIB=$2 ;;
	--variant) VARIANTS+=("$2") ;;
	--lg-threads) LG_THREADS=$2 ;;
	--no-nginx) NGINX=0 n=1 ;;
	-h | --help) usage; exit 0 ;;
	*) common_opt "$@"; n=$SHIFT_N ;; # --out --runs --build --shm --no-install
	esac
	((n)) || { usage >&2; echo >&2; bad "unknown option $1"; }
	shift "$n"
done
check_count --runs "$RUNS"
check_count --size "$SIZE_MIB"
check_count --total "$TOTAL_MIB"
check_count --lg-threads "$LG_THREADS"
((SIZE_MIB <= 5120)) || bad "--size: at most 5120 (one S3 PUT takes 5 GiB)"
[[ $CLIENTS =~ ^[0-9]+(,[0-9]+)*$ ]] || bad "--clients: expected numbers separated by commas, got '$CLIENTS'"
for c in ${CLIENTS//,/ }; do check_count --clients "$c"; done
# ascending and once each: the x axis and the table's rows
read -r -a CL <<<"$(tr , '\n' <<<"$CLIENTS" | sort -nu | tr '\n' ' ')"
((CL[-1] <= 10000)) || bad "--clients: at most 10000"
((${#VARIANTS[@]})) || VARIANTS=("${DEFAULT_VARIANTS[@]}")
declare -A ARGS=() PID=() PORT=() AK=() SK=() DOWN=()
NAMES=()
for spec in "${VARIANTS[@]}"; do
	[[ $spec =~ ^([A-Za-z0-9_][A-Za-z0-9_.-]*)=(.*)$ ]] ||
		bad "--variant: expected NAME=ARGS (NAME of letters, digits, _ . -), got '$spec'"
	v=${BASH_REMATCH[1]}
	[[ $v != nginx ]] || bad "--variant: the name nginx is the reference's (--no-nginx leaves it out)"
	[[ -z ${ARGS[$v]+x} ]] || bad "--variant: $v given twice"
	NAMES+=("$v")
	ARGS[$v]=${BASH_REMATCH[2]}
done

LOADGEN=$BUILD/bench/loadgen
CSCLI=$BUILD/cli/cryptstore
T_START=$EPOCHREALTIME
for t in "jq jq" "ss iproute2"; do
	read -r cmd pkg <<<"$t"
	need "$cmd" "$pkg" || die "$cmd is required"
done
for f in "$LOADGEN" "$BUILD/server/cryptstored" "$CSCLI"; do
	[[ -x $f ]] || die "no $f (build it: ninja -C $BUILD)"
done
[[ -d $SHM && -w $SHM ]] || die "$SHM is not a writable directory"
[[ $(stat -f -c %T "$SHM") == tmpfs ]] || note "$ME: warning: $SHM is not a tmpfs"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
rm -rf "$LOGS" "$OUT"/clients-*.png
mkdir -p "$LOGS"
# run_rounds appends "ID,RUN,MB/s,CPU" and our IDs are "VARIANT,WORKLOAD,CLIENTS".
RAWCSV=$OUT/raw.csv
echo "variant,workload,clients,run,mb_per_s,server_cpu_s_per_gb" >"$RAWCSV"
WORK=$(mktemp -d "$SHM/cs-clients.XXXXXX") || die "cannot create a directory under $SHM"
chmod 700 "$WORK"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
((CL[-1] + 64 <= $(ulimit -n))) || note "$ME: the open-file limit $(ulimit -n) is low for ${CL[-1]} clients"

# The lower of the tmpfs' free space and MemAvailable less 2 GiB (tmpfs pages are memory), MiB.
usable_mib() {
	{ df -Pm "$SHM" | awk 'NR == 2 { print $4 }'; awk '/^MemAvailable:/ { print int($2 / 1024) - 2048 }' /proc/meminfo; } |
		sort -n | head -1
}
need_mib() { echo $(($1 * $2 * SIZE_MIB * 21 / 20 + 256)); } # SERVERS CLIENTS: 5% container overhead, 256 MiB spare

# ---- the servers, all up for the whole run ----------------------------------------------------

for v in "${NAMES[@]}"; do
	read -r -a a <<<"${ARGS[$v]}"
	if cs_start "$v" "$WORK/cs-$v/data" --sync false "${a[@]}"; then
		PID[$v]=$CS_PID PORT[$v]=$CS_PORT AK[$v]=$CS_AK SK[$v]=$CS_SK
	else
		DOWN[$v]=${CS_WHY%"${CS_WHY##*[![:space:]]}"} # the log's tail, less its last newline
		note "$ME: $v skipped: ${DOWN[$v]}"
	fi
done

# nginx WebDAV into WORK/www (peers.sh's configuration; the body temp dir on the same tmpfs).
nginx_up() {
	local port conf=$WORK/nginx.conf t=$WORK/nginx-tmp
	need nginx nginx || { DOWN[nginx]="nginx not installed"; return 1; }
	port=$(free_port) || { DOWN[nginx]="no free port"; return 1; }
	mkdir -p "$WORK/www" "$t"
	cat >"$conf" <<-EOF
		# generated by bench/clients.sh
		daemon off;
		worker_processes auto;
		$( ((EUID == 0)) && echo "user root;")
		pid $WORK/nginx.pid;
		error_log $LOGS/nginx.error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off; sendfile on; tcp_nopush on; default_type application/octet-stream;
		    keepalive_timeout 300s; keepalive_requests 100000;
		    client_max_body_size 0; client_body_buffer_size 1m; client_body_temp_path $t/body;
		    proxy_temp_path $t/p; fastcgi_temp_path $t/f; uwsgi_temp_path $t/u; scgi_temp_path $t/s;
		    server {
		        listen 127.0.0.1:$port;
		        root $WORK/www;
		        location / { dav_methods PUT DELETE; create_full_put_path on; dav_access user:rw; }
		    }
		}
	EOF
	cp "$conf" "$LOGS/"
	nginx -e "$LOGS/nginx.error.log" -p "$WORK/" -c "$conf" >"$LOGS/nginx.stderr" 2>&1 &
	PID[nginx]=$!
	started "${PID[nginx]}" nginx
	if ! wait_listen "$port" "${PID[nginx]}"; then
		DOWN[nginx]="nginx did not start: $(cat "$LOGS/nginx.stderr" "$LOGS/nginx.error.log" 2>/dev/null | tail -c 240 | tr '\n' ' ')"
		stop_pid "${PID[nginx]}"
		return 1
	fi
	PORT[nginx]=$port
}
if ((NGINX)); then
	NAMES+=(nginx)
	nginx_up || note "$ME: nginx skipped: ${DOWN[nginx]}"
fi

UP=()
for v in "${NAMES[@]}"; do [[ -n ${DOWN[$v]:-} ]] || UP+=("$v"); done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $CMDLINE"
	echo "host: $(uname -srm), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "loadavg at start: $LOAD_START"
	echo "tmpfs: $SHM, $(usable_mib) MiB usable at start"
	echo "build: $BUILD ($("$BUILD/server/cryptstored" --version 2>&1 | head -1))"
	((NGINX)) && command -v nginx >/dev/null && echo "nginx: $(nginx -v 2>&1)"
	echo "openssl: $(openssl version 2>/dev/null)"
	for v in "${NAMES[@]}"; do
		[[ $v == nginx ]] && echo "server nginx: WebDAV, plaintext" || echo "server $v: cryptstored --sync false${ARGS[$v]:+ ${ARGS[$v]}}"
		[[ -n ${DOWN[$v]:-} ]] && echo "  skipped: ${DOWN[$v]}"
	done
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2
((${#UP[@]})) || note "$ME: no server started; the table shows why"

# ---- the measurements ---------------------------------------------------------------------------

# requests CLIENTS RUN: at least TOTAL MiB, a whole number per client; the warm-up a quarter.
requests() {
	local n=$(((TOTAL_MIB + SIZE_MIB - 1) / SIZE_MIB))
	(($2 == 0)) && n=$(((n + 3) / 4))
	echo $(((n + $1 - 1) / $1 * $1))
}
# lg SERVER ARGS...: loadgen --json against one of our servers (s3 as the demo identity s0).
lg() {
	local v=$1
	shift
	if [[ $v == nginx ]]; then
		"$LOADGEN" --json --timeout 600 --mode http --url "http://127.0.0.1:${PORT[nginx]}" "$@"
	else
		CS_PORT=${PORT[$v]} CS_AK=${AK[$v]} CS_SK=${SK[$v]} lg_s3 "$@"
	fi
}
wipe() { # SERVER PREFIX: delete the objects under PREFIX
	if [[ $1 == nginx ]]; then
		rm -f "$WORK/www/$2"*
	else
		AWS_ACCESS_KEY_ID=${AK[$1]} AWS_SECRET_ACCESS_KEY=${SK[$1]} AWS_ENDPOINT_URL=http://127.0.0.1:${PORT[$1]} \
			"$CSCLI" rm -q -r "s3://$CS_BUCKET/$2" >>"$LOGS/wipe.log" 2>&1
	fi
}
# measure SERVER,WORKLOAD,CLIENTS RUN (for run_rounds; run 0 the warm-up): "MB/s CPU-s/GB".
measure() {
	local v w c json=$LOGS/$1.$2.json args mbs
	IFS=, read -r v w c <<<"$1"
	args=(--threads "$LG_THREADS" --conns "$c" --size "${SIZE_MIB}M" --requests "$(requests "$c" "$2")"
		--server-pid "${PID[$v]}" --prefix "$w-")
	if [[ $w == get ]]; then
		args+=(--op get)
		(($2 == 0)) && args+=(--verify)
	elif [[ $v != nginx ]]; then
		args+=(--unsigned-payload) # the body's SHA-256 would be the client's work, not the server's
	fi
	lg "$v" "${args[@]}" >"$json" 2>"$json.err"
	[[ $w == put ]] && wipe "$v" put-
	mbs=$(lg_result "$json") || { cat "$json.err" >&2; return 1; }
	echo "$mbs $(jq -r '.server_cpu_s_per_gb // empty' "$json")"
}
# rounds WORKLOAD CLIENTS: every server's row, interleaved; rows of servers down are skipped.
rounds() {
	local v ids=()
	for v in "${NAMES[@]}"; do
		[[ -n ${DOWN[$v]:-} && -z ${WHY["$v,$1,$2"]:-} ]] && WHY["$v,$1,$2"]="skipped: ${DOWN[$v]}"
		ids+=("$v,$1,$2")
	done
	note "$ME: ${1^^} $2 client(s) x $SIZE_MIB MiB, $(requests "$2" 1) requests a run"
	run_rounds "${ids[@]}"
}

for c in "${CL[@]}"; do
	# PUT objects are deleted after every run: one server's C x S MiB at a time
	if (($(need_mib 1 "$c") > $(usable_mib))); then
		why="no room on $SHM for $c x $SIZE_MIB MiB: $(need_mib 1 "$c") MiB needed, $(usable_mib) usable"
		for v in "${UP[@]}"; do WHY["$v,put,$c"]="skipped: $why"; done
		note "$ME: PUT $c skipped: $why"
	fi
	rounds put "$c"
done

# The GET objects: C x S MiB per server, PUT once (not measured) for the largest C that fits.
CG=0
for c in "${CL[@]}"; do
	(($(need_mib "${#UP[@]}" "$c") <= $(usable_mib))) && CG=$c
done
ROOM_NOTE=
if ((CG < CL[-1])); then
	ROOM_NOTE="no room on $SHM for the GET objects of ${#UP[@]} server(s) x ${CL[-1]} clients x $SIZE_MIB MiB ($(need_mib "${#UP[@]}" "${CL[-1]}") MiB needed, $(usable_mib) usable)"
	note "$ME: $ROOM_NOTE; GET only up to $CG clients"
fi
for v in "${UP[@]}"; do
	((CG)) || break
	extra=()
	[[ $v == nginx ]] || extra=(--unsigned-payload)
	lg "$v" --conns "$CG" --size "${SIZE_MIB}M" --prefix get- "${extra[@]}" >"$LOGS/$v.get-prepare.json" 2>&1 ||
		DOWN[$v]="could not PUT the objects to GET (see $LOGS/$v.get-prepare.json)"
done
for c in "${CL[@]}"; do
	if ((c > CG)); then
		for v in "${UP[@]}"; do WHY["$v,get,$c"]="skipped: $ROOM_NOTE"; done
	fi
	rounds get "$c"
done
for v in "${UP[@]}"; do wipe "$v" get-; done

# ---- the results -------------------------------------------------------------------------------

# stats VALUES...: "median min max" (nothing if none).
stats() {
	printf '%s\n' "$@" | sort -g | awk 'NF { v[++n] = $1 }
		END { if (n) printf "%.3f %.3f %.3f\n", (v[int((n + 1) / 2)] + v[int(n / 2) + 1]) / 2, v[1], v[n] }'
}
csvq() { local s=${1//\"/\"\"}; printf '"%s"' "$s"; }
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
# CELL[mb|cpu,ID]: the tables' cells; NOTE_ROWS[VARIANT<tab>WHY]: the rows not measured for WHY
declare -A CELL=() NOTE_ROWS=()
NOTE_KEYS=()
NROWS=$((2 * ${#CL[@]}))
echo "variant,workload,clients,mb_per_s_median,mb_per_s_min,mb_per_s_max,server_cpu_s_per_gb,runs,status,note" >"$OUT/results.csv"
for w in put get; do
	for c in "${CL[@]}"; do
		for v in "${NAMES[@]}"; do
			id=$v,$w,$c
			med='' lo='' hi='' cpu='' n=0 st=ok why=${WHY[$id]:-}
			if [[ -n $why ]]; then
				st=${why%%[: ]*}
				[[ $st == skipped ]] && why=${why#skipped: }
				CELL[mb,$id]=$st CELL[cpu,$id]=-
				k="$v"$'\t'"$st: $why"
				[[ -n ${NOTE_ROWS[$k]:-} ]] || NOTE_KEYS+=("$k")
				NOTE_ROWS[$k]+="${NOTE_ROWS[$k]:+, }${w^^} $c"
			else
				# shellcheck disable=SC2086 # lists of numbers
				read -r med lo hi <<<"$(stats ${VALS[$id]:-})"
				# shellcheck disable=SC2086
				read -r cpu _ _ <<<"$(stats ${XVALS[$id]:-})"
				n=$(wc -w <<<"${VALS[$id]:-}")
				CELL[mb,$id]=$(printf '%.0f (%.0f-%.0f)' "$med" "$lo" "$hi")
				CELL[cpu,$id]=$([[ -n $cpu ]] && printf '%.2f' "$cpu" || echo -)
			fi
			echo "$v,$w,$c,$med,$lo,$hi,$cpu,$n,$st,$(csvq "$why")" >>"$OUT/results.csv"
		done
	done
done
# table mb|cpu: rows workload x clients, a column per server.
table() {
	local w c v
	printf '| workload | clients |'
	for v in "${NAMES[@]}"; do printf ' %s |' "$([[ $v == nginx ]] && echo "nginx (plaintext)" || echo "$v")"; done
	printf '\n| --- | ---: |%s\n' "$(printf ' ---: |%.0s' "${NAMES[@]}")"
	for w in put get; do
		for c in "${CL[@]}"; do
			printf '| %s | %s |' "${w^^}" "$c"
			for v in "${NAMES[@]}"; do printf ' %s |' "${CELL[$1,$v,$w,$c]}"; done
			echo
		done
	done
}
{
	echo "## Throughput against clients: $SIZE_MIB MiB objects ($(date -u +%Y-%m-%d))"
	echo
	echo "\`$CMDLINE\`: MB/s (10^6 bytes/s of body),"
	echo "the median of $RUNS run(s) after a warm-up and (min-max); at least $TOTAL_MIB MiB a run; cryptstored"
	echo "in demo mode with --sync false$( ((NGINX)) && echo " and nginx WebDAV"), on tmpfs, driven by bench/loadgen;"
	echo "the servers of one row measured in interleaved rounds."
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs; load average $LOAD_START at the start,"
	echo "$LOAD_END at the end (1, 5, 15 min); the run took $ELAPSED s."
	echo
	table mb
	echo
	echo "Server CPU seconds per GB (median):"
	echo
	table cpu
	echo
	for v in "${NAMES[@]}"; do
		[[ $v == nginx ]] && desc="nginx WebDAV, plaintext" || desc="cryptstored${ARGS[$v]:+ ${ARGS[$v]}}"
		echo "- $v: $desc"
		for k in "${NOTE_KEYS[@]}"; do
			[[ ${k%%$'\t'*} == "$v" ]] || continue
			r=${NOTE_ROWS[$k]}
			(($(tr -cd , <<<"$r" | wc -c) + 1 == NROWS)) && r="all rows"
			echo "  - $r: ${k#*$'\t'}"
		done
	done
} >"$OUT/results.md"

# ---- the figures -------------------------------------------------------------------------------

if need gnuplot gnuplot-nox; then
	stamp="$(date -u +%Y-%m-%d), $(nproc) CPUs, load $LOAD_START .. $LOAD_END"
	gnuplot -e "csv='$OUT/results.csv'; outdir='$OUT'; size='$SIZE_MIB'; runs='$RUNS'; stamp='$stamp'" \
		"$ROOT/bench/clients.gp" >"$LOGS/gnuplot.log" 2>&1 ||
		note "$ME: gnuplot failed: $(tail -c 400 "$LOGS/gnuplot.log")"
else
	note "$ME: no gnuplot: the PNG figures are left out (apt-get install gnuplot-nox)"
fi

echo >&2
cat "$OUT/results.md"
pngs=$(cd "$OUT" && find . -maxdepth 1 -name 'clients-*.png' -printf ', %f')
note "$ME: results in $OUT: results.md, results.csv, raw.csv, env.txt$pngs; logs in $LOGS"
