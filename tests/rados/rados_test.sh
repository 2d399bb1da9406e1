#!/bin/sh
# rados_test.sh PROGRAM [ARGS...]: start a throwaway Ceph cluster with
# tools/ceph-dev.sh in a temporary directory, run PROGRAM against it (it
# finds the cluster in CRYPTSTORE_CEPH_*), stop the cluster whatever
# happens, and exit with PROGRAM's status.  Without the Ceph daemons it
# prints a TAP skip.  CEPH_DEV overrides the path of ceph-dev.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
dev=${CEPH_DEV:-$here/../../tools/ceph-dev.sh}
[ $# -ge 1 ] || { echo "usage: rados_test.sh PROGRAM [ARGS...]" >&2; exit 2; }
if ! command -v ceph-mon >/dev/null 2>&1 || ! command -v ceph-osd >/dev/null 2>&1; then
	echo "1..0 # SKIP Ceph not installed (apt-get install ceph-mon ceph-osd ceph-common)"
	exit 0
fi
tmp=$(mktemp -d /tmp/cs-ceph-XXXXXX) || exit 1
dir=$tmp/cluster
cleanup() {
	sh "$dev" stop "$dir" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! sh "$dev" start "$dir" >"$tmp/env" 2>"$tmp/start.log"; then
	echo "Bail out! tools/ceph-dev.sh start failed:"
	sed 's/^/# /' "$tmp/start.log"
	exit 1
fi
sed 's/^/# /' "$tmp/start.log"
. "$tmp/env"
"$@"
