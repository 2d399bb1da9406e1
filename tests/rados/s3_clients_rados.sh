#!/bin/sh
# s3_clients_rados.sh PYTHON S3_CLIENTS_PY CRYPTSTORED: the S3 client suite
# (tests/integration/s3_clients.py) against one cryptstored whose store is
# a throwaway Ceph cluster (rados_test.sh starts and stops it).  For the
# final canary scan the whole pool is exported (`rados export`: every
# object's bytes, omap and xattrs) into the server's directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 3 ] || { echo "usage: s3_clients_rados.sh PYTHON S3_CLIENTS_PY CRYPTSTORED" >&2; exit 2; }
exec sh "$here/rados_test.sh" sh -c '
	CS_IT_SERVER_ARGS="--store rados --rados-conf $CRYPTSTORE_CEPH_CONF --rados-user $CRYPTSTORE_CEPH_USER --rados-keyring $CRYPTSTORE_CEPH_KEYRING --rados-pool $CRYPTSTORE_CEPH_POOL"
	CS_IT_STORE_DUMP="mkdir -p \"\$1\" && timeout 300 rados -c $CRYPTSTORE_CEPH_CONF -p $CRYPTSTORE_CEPH_POOL export \"\$1/pool.export\""
	CS_IT_LIMIT=${CS_IT_LIMIT:-600}
	export CS_IT_SERVER_ARGS CS_IT_STORE_DUMP CS_IT_LIMIT
	exec "$1" "$2" "$3"' sh "$@"
