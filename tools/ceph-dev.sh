#!/bin/sh
# ceph-dev.sh: a throwaway single-node Ceph cluster on loopback, for
# development and CI (the RADOS backend's tests, several cryptstored
# front-ends on one cluster).  Not for data anyone wants to keep.
#
#   tools/ceph-dev.sh start DIR [--port N] [--store memstore|bluestore] [--size GiB]
#   tools/ceph-dev.sh status DIR
#   tools/ceph-dev.sh stop DIR
#   tools/ceph-dev.sh --help
#
# One monitor (mon.a) and one OSD (osd.0), no mgr, cephx on, bound to
# 127.0.0.1 only.  Everything lives under DIR: ceph.conf, keyrings, mon and
# osd data, logs, pid files and admin sockets; nothing is written to
# /etc/ceph or /var/lib/ceph and no systemd unit is used.  start refuses a
# DIR that already exists (stop it first); stop kills the daemons started
# from DIR and removes DIR.
#
# start also creates the pool "cryptstore" (size 1) and the user
# client.cryptstore whose caps are limited to that pool, proves the pool
# takes a write (a rados put/get round trip as client.cryptstore) and prints
# the lines to export:
#   CEPH_CONF                  DIR/ceph.conf (the ceph and rados CLIs; admin)
#   CRYPTSTORE_CEPH_CONF       DIR/ceph.conf
#   CRYPTSTORE_CEPH_USER       client.cryptstore
#   CRYPTSTORE_CEPH_KEYRING    DIR/client.cryptstore.keyring
#   CRYPTSTORE_CEPH_POOL       cryptstore
#
# The OSD's object store is memstore by default (data in RAM, up to --size
# GiB, 4 by default); --store bluestore uses a sparse file DIR/osd/0.block of
# --size GiB instead (slower to start, closer to a real disk).
#
# Needs (Debian 12): ceph-mon ceph-osd ceph-common (and librados-dev for the
# build).  Run as root or as a user that may bind a loopback port.
#
# Exit codes: 0 done; 1 failed (the reason on stderr); 2 usage.
set -eu

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
}

die() {
	echo "ceph-dev: $*" >&2
	exit 1
}

# port_free PORT: true if nothing listens on 127.0.0.1:PORT or *:PORT (TCP,
# v4 or v6), from /proc so that no extra tool is needed.
port_free() {
	hex=$(printf '%04X' "$1")
	! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

# PORT_LO..PORT_HI: where pick_port looks.  Below the kernel's ephemeral range
# (ip_local_port_range, from 32768 by default): a port in it can be taken meanwhile as the
# source port of any outgoing connection, which port_free cannot see coming (a CI run saw the
# monitor's bind fail with EADDRINUSE so, while another test opened thousands of connections).
PORT_LO=20000
PORT_HI=$(($(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768) - 400))
[ "$PORT_HI" -gt $((PORT_LO + 1000)) ] || PORT_HI=40199

pick_port() {
	# A random start in the range, then upwards: concurrent CI jobs rarely collide.
	p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (PORT_HI - PORT_LO - 200) + PORT_LO ))
	i=0
	while [ $i -lt 200 ]; do
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
		p=$((p + 1))
		i=$((i + 1))
	done
	return 1
}

# ceph_admin ARGS: the ceph CLI as client.admin of this cluster, never hanging.
ceph_admin() {
	timeout 60 ceph -c "$DIR/ceph.conf" --connect-timeout 30 "$@"
}

# ceph_setup ARGS: the same during start, its chatter to DIR/log/setup.log.
ceph_setup() {
	ceph_admin "$@" 2>>"$DIR/log/setup.log"
}

# daemon_pids: the pids recorded in DIR/run whose process is still a ceph
# daemon started with DIR's ceph.conf (a stale pid file never kills a
# stranger).
daemon_pids() {
	for f in "$DIR"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		case "$pid" in '' | *[!0-9]*) continue ;; esac
		[ -r "/proc/$pid/cmdline" ] || continue
		if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$DIR/ceph.conf"; then
			echo "$pid"
		fi
	done
}

stop_daemons() {
	pids=$(daemon_pids)
	[ -n "$pids" ] || return 0
	# Nothing in DIR is worth a clean shutdown (memstore would first write
	# its whole store out): kill, and wait until they are gone.
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	i=0
	while [ $i -lt 100 ]; do
		alive=""
		for p in $pids; do
			if kill -0 "$p" 2>/dev/null; then alive="$alive $p"; fi
		done
		[ -n "$alive" ] || return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "ceph-dev: daemons$alive did not exit" >&2
	return 1
}

# start_failed: the EXIT trap of start: on failure, show the logs, stop what
# was started and remove DIR.
start_failed() {
	rc=$?
	[ "$rc" -ne 0 ] || return 0
	echo "ceph-dev: start failed; the end of the logs:" >&2
	tail -n 20 "$DIR"/log/*.log >&2 2>/dev/null || true
	stop_daemons
	rm -rf "$DIR"
	exit "$rc"
}

cmd_start() {
	for c in ceph-mon ceph-osd ceph ceph-authtool monmaptool rados; do
		command -v "$c" >/dev/null ||
			die "$c not found: apt-get install -y --no-install-recommends ceph-mon ceph-osd ceph-common"
	done
	if [ -e "$DIR" ]; then
		die "$DIR already exists: a cluster may be running there (tools/ceph-dev.sh status $DIR); stop it with 'tools/ceph-dev.sh stop $DIR' or choose another directory"
	fi
	case "$STORE" in memstore | bluestore) ;; *) die "--store must be memstore or bluestore" ;; esac
	case "$SIZE" in '' | *[!0-9]*) die "--size must be a whole number of GiB" ;; esac
	if [ -z "$PORT" ]; then
		PORT=$(pick_port) || die "no free TCP port found in $PORT_LO..$PORT_HI"
	else
		case "$PORT" in '' | *[!0-9]*) die "--port must be a number" ;; esac
		port_free "$PORT" || die "port $PORT is in use"
	fi
	t0=$(date +%s.%N)
	mkdir -p "$DIR"
	chmod 700 "$DIR"
	DIR=$(cd "$DIR" && pwd)
	# From here on a failure stops what was started and removes DIR.
	trap start_failed EXIT
	mkdir -p "$DIR/mon/a" "$DIR/osd/0" "$DIR/run" "$DIR/log" "$DIR/tmp"
	# The object classes live in the multiarch directory, wherever dpkg put them.
	cdir=/usr/lib/rados-classes
	for d in /usr/lib/*/rados-classes; do
		if [ -f "$d/libcls_lock.so" ]; then cdir=$d; fi
	done
	fsid=$(cat /proc/sys/kernel/random/uuid)
	bytes=$((SIZE * 1024 * 1024 * 1024))
	cat >"$DIR/ceph.conf" <<EOF
# Written by tools/ceph-dev.sh: a throwaway single-node cluster.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$PORT]
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $DIR/run
log file = $DIR/log/\$name.log
log to stderr = false
crash dir = $DIR/tmp
exec dir = $DIR/tmp
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
auth allow insecure global id reclaim = false
mon pg warn min per osd = 0
mon data avail warn = 2
# One monitor: no reason to batch its map updates for a second each.
paxos propose interval = 0.05
mon data avail crit = 1

[mon]
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
err to stderr = false
mon data = $DIR/mon/\$id
mon cluster log file = $DIR/log/cluster.log

[osd]
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
err to stderr = false
osd data = $DIR/osd/\$id
osd objectstore = $STORE
memstore device bytes = $bytes
bluestore block path = $DIR/osd/\$id.block
bluestore block create = true
bluestore block size = $bytes
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 536870912
osd op num shards = 1
osd op num threads per shard = 2
osd class dir = $cdir
osd max object name len = 1024

# Clients (the tests run many handles at once) get no admin socket.
[client]
keyring = $DIR/\$name.keyring
admin socket =
EOF
	umask 077
	ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$DIR/client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
	ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/client.admin.keyring" >/dev/null
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$PORT]" "$DIR/monmap" >/dev/null
	ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
	ceph-mon -c "$DIR/ceph.conf" -i a 2>>"$DIR/log/setup.log"
	# The OSD: its id, its cephx key in its data directory, mkfs, start.
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	osd_key=$(ceph-authtool --gen-print-key)
	printf '{"cephx_secret": "%s"}\n' "$osd_key" >"$DIR/tmp/osd.json"
	id=$(ceph_setup osd new "$osd_uuid" -i "$DIR/tmp/osd.json")
	rm -f "$DIR/tmp/osd.json"
	[ "$id" = 0 ] || die "ceph osd new returned '$id', expected 0"
	printf '[osd.0]\n\tkey = %s\n' "$osd_key" >"$DIR/osd/0/keyring"
	ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd.0.mkfs.log" 2>&1 ||
		die "ceph-osd --mkfs failed: $(tail -n 5 "$DIR/log/osd.0.mkfs.log")"
	ceph-osd -c "$DIR/ceph.conf" -i 0 2>>"$DIR/log/setup.log"
	# The pool and its user, whose caps reach only that pool.
	ceph_setup osd pool create cryptstore 16 16 replicated >/dev/null
	ceph_setup osd pool application enable cryptstore cryptstore --yes-i-really-mean-it >/dev/null
	ceph_setup auth get-or-create client.cryptstore mon 'allow r' \
		osd 'allow rwx pool=cryptstore' -o "$DIR/client.cryptstore.keyring" >/dev/null
	# Ready when the pool takes a write and gives it back.
	echo "ceph-dev probe $fsid" >"$DIR/tmp/probe"
	i=0
	while :; do
		if timeout 10 rados -c "$DIR/ceph.conf" --id cryptstore -p cryptstore \
			put .ceph-dev-probe "$DIR/tmp/probe" 2>/dev/null &&
			timeout 10 rados -c "$DIR/ceph.conf" --id cryptstore -p cryptstore \
				get .ceph-dev-probe "$DIR/tmp/probe.back" 2>/dev/null &&
			cmp -s "$DIR/tmp/probe" "$DIR/tmp/probe.back"; then
			break
		fi
		i=$((i + 1))
		[ $i -lt 60 ] || die "the pool did not take a write within 60 tries"
		sleep 0.5
	done
	timeout 10 rados -c "$DIR/ceph.conf" --id cryptstore -p cryptstore rm .ceph-dev-probe 2>/dev/null || true
	rm -f "$DIR/tmp/probe" "$DIR/tmp/probe.back"
	[ "$(ceph_admin osd pool get cryptstore size 2>/dev/null)" = "size: 1" ] ||
		die "pool cryptstore did not get size 1"
	echo "$PORT" >"$DIR/port"
	trap - EXIT
	t1=$(date +%s.%N)
	health=$(ceph_admin health 2>/dev/null || echo unknown)
	echo "# ceph-dev: cluster up in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s on 127.0.0.1:$PORT ($STORE), $health" >&2
	cat <<EOF
export CEPH_CONF=$DIR/ceph.conf
export CRYPTSTORE_CEPH_CONF=$DIR/ceph.conf
export CRYPTSTORE_CEPH_USER=client.cryptstore
export CRYPTSTORE_CEPH_KEYRING=$DIR/client.cryptstore.keyring
export CRYPTSTORE_CEPH_POOL=cryptstore
EOF
}

cmd_status() {
	[ -f "$DIR/ceph.conf" ] || die "$DIR holds no cluster of tools/ceph-dev.sh"
	pids=$(daemon_pids)
	n=$(echo "$pids" | grep -c . || true)
	echo "daemons running: $n of 2"
	for p in $pids; do
		ps -o pid=,rss=,comm= -p "$p" | awk '{ printf "  pid %s %s rss %d KiB\n", $1, $3, $2 }'
	done
	[ "$n" -gt 0 ] || exit 1
	ceph_admin -s || exit 1
}

cmd_stop() {
	if [ ! -e "$DIR" ]; then
		echo "ceph-dev: $DIR does not exist; nothing to stop" >&2
		return 0
	fi
	[ -f "$DIR/ceph.conf" ] ||
		die "$DIR holds no ceph.conf: not a cluster of tools/ceph-dev.sh, left alone"
	DIR=$(cd "$DIR" && pwd)
	stop_daemons
	rm -rf "$DIR"
}

[ $# -ge 1 ] || {
	usage >&2
	exit 2
}
case "$1" in
-h | --help | help)
	usage
	exit 0
	;;
start | stop | status) VERB=$1 ;;
*)
	usage >&2
	exit 2
	;;
esac
[ $# -ge 2 ] || {
	echo "ceph-dev: $VERB needs a directory" >&2
	exit 2
}
DIR=$2
shift 2
PORT=""
STORE=memstore
SIZE=4
while [ $# -gt 0 ]; do
	case "$1" in
	--port)
		PORT=${2:-}
		shift 2 || exit 2
		;;
	--store)
		STORE=${2:-}
		shift 2 || exit 2
		;;
	--size)
		SIZE=${2:-}
		shift 2 || exit 2
		;;
	*)
		echo "ceph-dev: unknown option $1" >&2
		exit 2
		;;
	esac
done
case "$DIR" in
/ | '') die "refusing DIR '$DIR'" ;;
*) ;;
esac
"cmd_$VERB"
