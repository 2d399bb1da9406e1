#!/bin/sh
# deps.sh [--run|--check|--bench]: install, with apt-get, the Debian 12 packages that
# building, running, testing or benchmarking cryptstore needs and that are missing.
# Idempotent and quiet when nothing is missing.  Needs root (or sudo) to install.
set -eu

build="gcc make pkg-config meson ninja-build libssl-dev openssl libipsec-mb-dev libhttp-parser-dev libcurl4-openssl-dev libseccomp-dev"
check="libcmocka-dev python3 clang-format git awscli s3cmd python3-boto3 curl libcurl4-openssl-dev valgrind clang ceph-mon ceph-osd ceph-common librados-dev"
bench=""
# make paper: the VM (Debian kernel, headers, qemu, busybox) and every peer of the tables.
paper="linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio iperf3 netcat-openbsd openssh-server openssh-client encfs gocryptfs fuse3 e2fsprogs jq iproute2 gnuplot-nox"

want="$build"
for a in "$@"; do
	case "$a" in
	--run) want="$want awscli" ;;
	--check) want="$want $check" ;;
	--bench) want="$want $check $bench" ;;
	--paper) want="$want $check $paper" ;;
	-h|--help)
		echo "usage: tools/deps.sh [--run|--check|--bench|--paper]"
		echo "Installs the missing Debian packages for that target with apt-get."
		exit 0 ;;
	*) echo "deps.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: these packages are missing and you are not root:$missing" >&2
		echo "deps: run 'apt-get install$missing' as root, then try again" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
