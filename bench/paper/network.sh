#!/usr/bin/env bash
# bench/paper/network.sh: the paper's network table (netperf, netcat, filemover; raw and
# through an SSH tunnel) re-run over loopback (docs/PAPER.md, section 3).  See --help.
set -uo pipefail
ME=network.sh
# shellcheck source=bench/paper/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIZE_MIB=256
IPERF_T=3
CIPHERS="aes256-ctr aes256-gcm@openssh.com chacha20-poly1305@openssh.com"

usage() {
	cat <<EOF
usage: bench/paper/network.sh [options]

The paper's network table, over loopback on this one machine (the paper: two computers on
10GbE).  Columns (the paper's tools, or today's stand-ins):

  iperf3     one TCP stream for ${IPERF_T} s, memory to memory (in place of netperf, which Debian
             12 does not ship in main)
  netcat     'nc -N' sends a SIZE MiB random file from the tmpfs to 'nc -l > FILE' on the tmpfs
  filemover  the paper's custom TCP copier: bench/loadgen --mode http PUTs one SIZE MiB body
             to bench/paper/srvmodels --model single, which writes it to the tmpfs
  ssh        'ssh -c CIPHER host "cat > FILE"' < the file (ssh rows only)

Rows: raw (no encryption; the baseline of each column), then an SSH tunnel (OpenSSH's sshd on
127.0.0.1, 'ssh -N -L') with aes256-ctr (MAC umac-64-etm), aes256-gcm@openssh.com and
chacha20-poly1305@openssh.com; the paper's IPsec row cannot run here (this kernel has no ESP
and no modules) and is listed with the reason.  Extra rows: 'nc -l | openssl enc
-aes-256-cbc > FILE' (user-space encryption at the receiver, no tunnel) and cryptstored
(demo mode, data on the tmpfs, one SIZE MiB PUT by loadgen --mode s3 --unsigned-payload).

Every cell: one warm-up, then --runs timed runs, all cells in interleaved rounds; the median
MB/s (10^6 bytes/s) and the ratio to the raw row of its column from this run.

Options:
  --size MIB        bytes per netcat/filemover/ssh transfer (default $SIZE_MIB)
  --iperf-time S    seconds per iperf3 run (default $IPERF_T)
  --ciphers LIST    SSH ciphers (default "$CIPHERS")
$COMMON_HELP

Needs iperf3, netcat-openbsd, openssh-server and openssh-client (installed when missing, as
root).  Writes OUT/network.md, OUT/network.dat, OUT/network.raw.csv.  Exit: 0 table produced,
1 error, 2 bad usage.
EOF
}

while (($#)); do
	case $1 in
	--size) SIZE_MIB=${2:?--size needs a value}; shift ;;
	--iperf-time) IPERF_T=${2:?--iperf-time needs a value}; shift ;;
	--ciphers) CIPHERS=${2:?--ciphers needs a value}; shift ;;
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
check_count --size "$SIZE_MIB"
check_count --iperf-time "$IPERF_T"
for t in "jq jq" "ss iproute2" "openssl openssl" "setsid util-linux"; do
	read -r cmd pkg <<<"$t"
	need "$cmd" "$pkg" || die "$cmd is required"
done
init_out network
WORK=$(mktemp -d "$SHM/h2-network.XXXXXX") || die "cannot create a directory under $SHM"
chmod 700 "$WORK"
BYTES=$((SIZE_MIB << 20))

declare -A COLWHY=() ROWWHY=()
need iperf3 iperf3 || COLWHY[iperf3]="iperf3 not installed"
if ! need nc netcat-openbsd; then
	COLWHY[nc]="nc not installed (netcat-openbsd)"
elif ! nc -h 2>&1 | grep -q OpenBSD; then
	COLWHY[nc]="nc is not netcat-openbsd (needs -N)"
fi
[[ -x $BUILD/bench/loadgen ]] || COLWHY[filemover]="no $BUILD/bench/loadgen"
[[ -z ${COLWHY[filemover]:-} ]] && { build_srvmodels || COLWHY[filemover]="srvmodels.c did not build"; }
SSHD=/usr/sbin/sshd
if ! need ssh openssh-client || ! { [[ -x $SSHD ]] || { need sshd openssh-server && SSHD=$(command -v sshd); }; } ||
	[[ ! -x $SSHD ]]; then
	ROWWHY[ssh]="OpenSSH (openssh-server, openssh-client) not installed"
fi
if grep -q '^CONFIG_INET_ESP=y' <<<"$KCONFIG"; then
	ROWWHY[ipsec]="not scripted: this kernel has ESP, but the run needs a second host or netns (see docs/PAPER.md)"
else
	ROWWHY[ipsec]="impossible here: the running kernel ($(uname -r)) has no CONFIG_INET_ESP and no loadable modules; to be measured in the qemu VM (Debian's kernel has esp4)"
fi

# ---- the data and the servers ----------------------------------------------------------------------

SRC=$WORK/src
openssl enc -aes-256-ctr -pbkdf2 -pass pass:paper -in /dev/zero 2>/dev/null | head -c "$BYTES" >"$SRC"
[[ $(stat -c %s "$SRC") == "$BYTES" ]] || die "cannot write $SIZE_MIB MiB to $SHM"

IPORT='' NCPORT='' SMPORT_='' SMPID_=''
if [[ -z ${COLWHY[iperf3]:-} ]]; then
	IPORT=$(free_port)
	iperf3 -s -p "$IPORT" >"$LOGS/iperf3-server.log" 2>&1 &
	started $! "iperf3 -s"
	wait_listen "$IPORT" $! || COLWHY[iperf3]="iperf3 -s did not listen"
fi
NCPORT=$(free_port)
if [[ -z ${COLWHY[filemover]:-} ]]; then
	mkdir -p "$WORK/fm"
	if sm_start single "$WORK/fm"; then
		SMPID_=$SM_PID SMPORT_=$SM_PORT
	else
		COLWHY[filemover]="srvmodels did not start"
	fi
fi
CS_OK=0
if [[ -x $BUILD/server/cryptstored && -x $BUILD/bench/loadgen ]]; then
	cs_start net "$WORK/cs-data" && CS_OK=1
else
	CS_WHY="no $BUILD/server/cryptstored or bench/loadgen"
fi

# sshd on 127.0.0.1 with throw-away keys, and one tunnel per cipher forwarding the three ports.
declare -A TUN=() # cipher -> "iperf-port nc-port fm-port"
SSH_ARGS=()
if [[ -z ${ROWWHY[ssh]:-} ]]; then
	S=$WORK/ssh
	mkdir -p "$S" && chmod 700 "$S"
	ssh-keygen -q -t ed25519 -N '' -f "$S/host" && ssh-keygen -q -t ed25519 -N '' -f "$S/id" &&
		cp "$S/id.pub" "$S/authorized_keys"
	SSHPORT=$(free_port)
	cat >"$S/sshd_config" <<EOF
# generated by bench/paper/network.sh: a private sshd for the tunnel rows
Port $SSHPORT
ListenAddress 127.0.0.1
HostKey $S/host
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Compression no
Ciphers aes256-ctr,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com
MACs umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com
AllowTcpForwarding yes
LogLevel ERROR
EOF
	# sshd's privilege separation directory; Debian creates it in its init script.
	[[ -d /run/sshd ]] || mkdir -m 755 /run/sshd
	"$SSHD" -D -e -f "$S/sshd_config" >"$LOGS/sshd.log" 2>&1 &
	started $! sshd
	if ! wait_listen "$SSHPORT" $!; then
		ROWWHY[ssh]="sshd did not start: $(head -c 200 "$LOGS/sshd.log")"
	else
		SSH_ARGS=(-F /dev/null -i "$S/id" -p "$SSHPORT" -o StrictHostKeyChecking=no
			-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR
			-o Compression=no -o ExitOnForwardFailure=yes)
		for c in $CIPHERS; do
			p1=$(free_port) p2=$(free_port) p3=$(free_port)
			mac=()
			[[ $c == *ctr* ]] && mac=(-m umac-64-etm@openssh.com)
			ssh "${SSH_ARGS[@]}" -c "$c" "${mac[@]}" -N -L "$p1:127.0.0.1:${IPORT:-1}" \
				-L "$p2:127.0.0.1:$NCPORT" -L "$p3:127.0.0.1:${SMPORT_:-1}" \
				"$(id -un)@127.0.0.1" >"$LOGS/tunnel-$c.log" 2>&1 </dev/null &
			started $! "ssh tunnel $c"
			if wait_listen "$p3" $!; then
				TUN[$c]="$p1 $p2 $p3"
			else
				ROWWHY[ssh-$c]="the tunnel did not come up: $(head -c 200 "$LOGS/tunnel-$c.log")"
			fi
		done
	fi
fi

# ---- the cells ---------------------------------------------------------------------------------------

run_iperf() { # PORT JSON
	iperf3 -c 127.0.0.1 -p "$1" -t "$IPERF_T" -J >"$2" 2>"$2.err" ||
		{ jq -r '.error // empty' "$2" >&2; return 1; }
	jq -r '.end.sum_received.bits_per_second / 8 / 1e6' "$2"
}
# run_nc PORT [openssl]: nc -l on NCPORT (piped through openssl enc if asked) receives the file
# sent by nc -N to PORT (NCPORT itself, or a tunnel's end); timed from the send to the receiver's end.
run_nc() {
	local port=$1 how=${2:-} rpid t0 t1 out key iv
	rm -f "$WORK/dst"
	if [[ $how == openssl ]]; then
		key=$(openssl rand -hex 32) iv=$(openssl rand -hex 16)
		# shellcheck disable=SC2016 # the inner shell expands its own $1..$4
		setsid bash -c 'nc -l 127.0.0.1 "$1" </dev/null | openssl enc -aes-256-cbc -K "$2" -iv "$3" -bufsize 1048576 >"$4"' \
			_ "$NCPORT" "$key" "$iv" "$WORK/dst" &
	else
		setsid nc -l 127.0.0.1 "$NCPORT" </dev/null >"$WORK/dst" &
	fi
	rpid=$!
	started "$rpid" "nc -l"
	wait_listen "$NCPORT" "$rpid" || { echo "nc -l did not listen" >&2; stop_pid "$rpid"; return 1; }
	t0=$(now)
	nc -N 127.0.0.1 "$port" <"$SRC" || { echo "nc -N failed" >&2; stop_pid "$rpid"; return 1; }
	wait "$rpid"
	t1=$(now)
	unset "PROCS[$rpid]"
	out=$(stat -c %s "$WORK/dst" 2>/dev/null || echo 0)
	rm -f "$WORK/dst"
	if [[ $how == openssl ]]; then
		((out == BYTES / 16 * 16 + 16)) || { echo "openssl wrote $out bytes" >&2; return 1; }
	else
		((out == BYTES)) || { echo "received $out of $BYTES bytes" >&2; return 1; }
	fi
	mbps "$BYTES" "$t0" "$t1"
}
run_fm() { # PORT JSON
	"$BUILD/bench/loadgen" --json --timeout 600 --mode http --url "http://127.0.0.1:$1" --conns 1 \
		--size "$BYTES" --server-pid "$SMPID_" >"$2" 2>"$2.err"
	rm -f "$WORK/fm/"*
	lg_result "$2"
}
run_sshcat() { # CIPHER
	local t0 t1 out mac=()
	[[ $1 == *ctr* ]] && mac=(-m umac-64-etm@openssh.com)
	t0=$(now)
	ssh "${SSH_ARGS[@]}" -c "$1" "${mac[@]}" "$(id -un)@127.0.0.1" "cat > '$WORK/dst'" <"$SRC" || return 1
	t1=$(now)
	out=$(stat -c %s "$WORK/dst" 2>/dev/null || echo 0)
	rm -f "$WORK/dst"
	((out == BYTES)) || { echo "received $out of $BYTES bytes" >&2; return 1; }
	mbps "$BYTES" "$t0" "$t1"
}

# measure ROW:COL RUN
measure() {
	local row=${1%%:*} col=${1#*:} json=$LOGS/$1.$2.json ports c
	if [[ $row == raw ]]; then
		case $col in
		iperf3) run_iperf "$IPORT" "$json" ;;
		nc) run_nc "$NCPORT" ;;
		filemover) run_fm "$SMPORT_" "$json" ;;
		esac
	elif [[ $row == nc-openssl ]]; then
		run_nc "$NCPORT" openssl
	elif [[ $row == cryptstored ]]; then
		lg_s3 --unsigned-payload --conns 1 --size "$BYTES" --server-pid "$CS_PID" >"$json" 2>"$json.err"
		lg_result "$json"
	else
		c=${row#ssh-}
		read -r -a ports <<<"${TUN[$c]}"
		case $col in
		iperf3) run_iperf "${ports[0]}" "$json" ;;
		nc) run_nc "${ports[1]}" ;;
		filemover) run_fm "${ports[2]}" "$json" ;;
		ssh) run_sshcat "$c" ;;
		esac
	fi
}

COLS=(iperf3 nc filemover ssh)
declare -A COLNAME=([iperf3]="iperf3 (netperf)" [nc]="netcat" [filemover]="filemover" [ssh]="ssh host cat")
ROWS=(raw)
for c in $CIPHERS; do ROWS+=("ssh-$c"); done
ROWS+=(ipsec nc-openssl cryptstored)
declare -A ROWNAME=([raw]="raw / no encryption" [ipsec]="IPsec (kernel ESP)"
	[nc-openssl]="nc -l \\| openssl enc -aes-256-cbc (receiver encrypts)"
	[cryptstored]="cryptstored PUT (encrypts and stores)")
for c in $CIPHERS; do ROWNAME[ssh-$c]="ssh tunnel, $c"; done
applies() { # ROW COL
	case $1 in
	raw) [[ $2 != ssh ]] ;;
	nc-openssl) [[ $2 == nc ]] ;;
	cryptstored) [[ $2 == filemover ]] ;;
	ipsec) [[ $2 != ssh ]] ;;
	*) true ;;
	esac
}
IDS=()
for r in "${ROWS[@]}"; do
	for col in "${COLS[@]}"; do
		applies "$r" "$col" || continue
		id=$r:$col
		if [[ $r == ipsec ]]; then
			WHY[$id]=${ROWWHY[ipsec]}
		elif [[ $r == ssh-* && -n ${ROWWHY[ssh]:-} ]]; then
			WHY[$id]=${ROWWHY[ssh]}
		elif [[ $r == ssh-* && -n ${ROWWHY[$r]:-} ]]; then
			WHY[$id]=${ROWWHY[$r]}
		elif [[ $r == cryptstored ]] && ((!CS_OK)); then
			WHY[$id]=${CS_WHY:-cryptstored did not start}
		elif [[ $col != ssh && -n ${COLWHY[$col]:-} ]]; then
			WHY[$id]=${COLWHY[$col]}
		elif [[ $r == nc-openssl && -n ${COLWHY[nc]:-} ]]; then
			WHY[$id]=${COLWHY[nc]}
		fi
		IDS+=("$id")
	done
done
note "$ME: ${#IDS[@]} cells x (1 warm-up + $RUNS runs); $SIZE_MIB MiB transfers, iperf3 ${IPERF_T} s"
run_rounds "${IDS[@]}"

# ---- the table --------------------------------------------------------------------------------------

cell() { # ROW COL: "MB/s (x)" or "-" or the reason
	local id=$1:$2 v b
	applies "$1" "$2" || { echo "n/a"; return; }
	if [[ -n ${WHY[$id]:-} ]]; then
		[[ $1 == ipsec ]] && { echo "not measured (see below)"; return; }
		echo "not measured: ${WHY[$id]}"
		return
	fi
	v=$(med "$id")
	b=''
	[[ $2 != ssh ]] && b=$(med "raw:$2")
	if [[ $2 == ssh ]]; then
		echo "$(fmt0 "$v") ($(spread "$id"))"
	else
		echo "$(fmt0 "$v") ($(spread "$id")) x$(ratio "$v" "$b")"
	fi
}
{
	echo "### 3. Network, loopback, $SIZE_MIB MiB transfers from a tmpfs"
	echo
	env_lines
	echo "\`bench/paper/network.sh --runs $RUNS --size $SIZE_MIB\`: median MB/s (10^6 bytes/s) of $RUNS runs after a"
	echo "warm-up, min-max in brackets, x = ratio to the raw row of the same column from this run;"
	echo "all cells measured in interleaved rounds.  The ssh column (no tunnel: 'ssh host \"cat > FILE\"')"
	echo "has no raw counterpart; compare it with the raw netcat cell."
	echo
	printf '| method |'
	for col in "${COLS[@]}"; do printf ' %s MB/s |' "${COLNAME[$col]}"; done
	echo
	printf '| --- |'
	for col in "${COLS[@]}"; do printf ' ---: |'; done
	echo
	for r in "${ROWS[@]}"; do
		printf '| %s |' "${ROWNAME[$r]}"
		for col in "${COLS[@]}"; do printf ' %s |' "$(cell "$r" "$col")"; done
		echo
	done
	echo
	echo "IPsec: ${ROWWHY[ipsec]}."
} >"$OUT/network.md"
{
	printf '# method'
	for col in "${COLS[@]}"; do printf ' %s' "$col"; done
	echo
	for r in "${ROWS[@]}"; do
		[[ $r == ipsec ]] && continue
		printf '"%s"' "${ROWNAME[$r]//\\|/|}"
		for col in "${COLS[@]}"; do
			v=''
			applies "$r" "$col" && v=$(med "$r:$col")
			printf ' %s' "${v:-NaN}"
		done
		echo
	done
} >"$OUT/network.dat"
cat "$OUT/network.md"
