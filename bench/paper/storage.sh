#!/usr/bin/env bash
# bench/paper/storage.sh: the paper's storage table (raw, dm-crypt, encfs, openssl; write and
# read) re-run on this machine's disk (docs/PAPER.md, section 2).  See --help.
set -uo pipefail
ME=storage.sh
# shellcheck source=bench/paper/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIZE_MIB=512
DISK=/var/tmp

usage() {
	cat <<EOF
usage: bench/paper/storage.sh [options]

The paper's storage table: random data in a RAM file on /dev/shm is written to the disk with
1 MiB blocks and synced (dd/sync, openssl/sync), through each encryption method, and read back.
Here the data is SIZE MiB (the paper: 1 GB) on the tmpfs and the disk is the filesystem of
DISK-DIR (not a partition of its own: this machine has one virtual disk).  Rows:

  raw, O_DIRECT    dd bs=1M oflag=direct conv=fdatasync; read dd bs=1M iflag=direct (the baseline)
  raw, page cache  dd bs=1M conv=fdatasync (the paper's dd/sync); read after dropping the file's
                   cached pages
  ext4 on loop     a plain directory of an ext4 filesystem (mkfs.ext4 -O encrypt) on a loop
                   device (--direct-io=on) over a file on DISK-DIR: the baseline of the next row
  ext4 fscrypt     an encrypted directory of that filesystem (policy v2, AES-256-XTS contents,
                   AES-256-CTS names): kernel-space file encryption, in place of dm-crypt
  dm-crypt         measured only where the kernel has device-mapper (not here: see the table)
  encfs            FUSE, user space, AES-256 with 1 KiB blocks, per-file IVs (cipher dir on disk)
  gocryptfs        FUSE, user space, AES-256-GCM with 4 KiB blocks (cipher dir on disk)
  openssl enc      openssl enc -aes-256-cbc -bufsize 1048576 -in RAMFILE -out FILE; sync FILE;
                   read: openssl enc -d ... -out /dev/null
  cryptstored      the real server (demo mode, data dir on DISK-DIR, default settings, so it
                   fsyncs before it answers): one SIZE MiB PUT by bench/loadgen, read by one GET

Reads start from the device: the page cache of the files involved (the plaintext view and the
cipher files) is dropped with posix_fadvise (dd iflag=nocache), never the whole machine's.
Every cell: one warm-up, then --runs timed runs, all cells in interleaved rounds; the median
MB/s (10^6 bytes/s) and the ratio to the raw O_DIRECT row from this run.

Options:
  --size MIB        bytes per file (default $SIZE_MIB)
  --disk-dir DIR    a directory on the real disk, not a tmpfs (default $DISK)
$COMMON_HELP

Needs root (mount, losetup), e2fsprogs, util-linux, fuse3, gocryptfs, encfs, python3 (the
fscrypt ioctls); installs what is missing when root.  Writes OUT/storage.md, OUT/storage.dat,
OUT/storage.raw.csv.  Exit: 0 table produced, 1 error, 2 bad usage.
EOF
}

while (($#)); do
	case $1 in
	--size) SIZE_MIB=${2:?--size needs a value}; shift ;;
	--disk-dir) DISK=${2:?--disk-dir needs a value}; shift ;;
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
for t in "jq jq" "ss iproute2" "openssl openssl" "mountpoint util-linux" "losetup mount"; do
	read -r cmd pkg <<<"$t"
	need "$cmd" "$pkg" || die "$cmd is required"
done
[[ -d $DISK && -w $DISK ]] || die "$DISK is not a writable directory"
[[ $(stat -f -c %T "$DISK") == tmpfs ]] && die "$DISK is a tmpfs: give --disk-dir on the real disk"
init_out storage
BYTES=$((SIZE_MIB << 20))
WORK=$(mktemp -d "$SHM/h2-storage.XXXXXX") || die "cannot create a directory under $SHM"
WORK2=$(mktemp -d "$DISK/h2-storage.XXXXXX") || die "cannot create a directory under $DISK"
chmod 700 "$WORK" "$WORK2"
D=$WORK2
SRC=$WORK/src
openssl enc -aes-256-ctr -pbkdf2 -pass pass:paper -in /dev/zero 2>/dev/null | head -c "$BYTES" >"$SRC"
[[ $(stat -c %s "$SRC") == "$BYTES" ]] || die "cannot write $SIZE_MIB MiB to $SHM"
DISKDEV=$(df -P "$DISK" | awk 'NR == 2 { print $1 }')
DISKFS=$(findmnt -n -o FSTYPE --target "$DISK" 2>/dev/null || stat -f -c %T "$DISK")

declare -A RWHY=()

# ---- ext4 with fscrypt on a loop device ------------------------------------------------------------

# fscrypt_dir MOUNT DIR: add a random 512-bit master key to the filesystem and make DIR (new,
# empty) an encrypted directory under it (FS_IOC_ADD_ENCRYPTION_KEY, FS_IOC_SET_ENCRYPTION_POLICY
# with a v2 policy: AES-256-XTS contents, AES-256-CTS-CBC names), as the fscrypt tool would.
fscrypt_dir() {
	python3 - "$1" "$2" <<'EOF'
import fcntl, os, struct, sys
mnt, d = sys.argv[1], sys.argv[2]
key = os.urandom(64)
# struct fscrypt_add_key_arg: key_spec {type=IDENTIFIER(2), reserved, u[32]}, raw_size, key_id,
# reserved[8], raw[]; _IOWR('f', 23, 80 bytes)
arg = bytearray(struct.pack('=II32sII32x', 2, 0, b'', len(key), 0) + key)
fd = os.open(mnt, os.O_RDONLY)
fcntl.ioctl(fd, 0xC0506617, arg)
os.close(fd)
os.mkdir(d)
# struct fscrypt_policy_v2: version 2, contents AES_256_XTS (1), filenames AES_256_CTS (4),
# flags, reserved[4], master_key_identifier[16]; FS_IOC_SET_ENCRYPTION_POLICY = _IOR('f', 19, 12)
pol = struct.pack('=BBBB4s16s', 2, 1, 4, 0, b'', bytes(arg[8:24]))
fd = os.open(d, os.O_RDONLY)
fcntl.ioctl(fd, 0x800C6613, pol)
os.close(fd)
EOF
}
EXT4=''
setup_ext4() {
	local img=$D/ext4.img loop
	need mkfs.ext4 e2fsprogs || { RWHY[ext4]="mkfs.ext4 not installed (e2fsprogs)"; return 1; }
	need python3 python3 || { RWHY[fscrypt]="python3 not installed (the fscrypt ioctls)"; }
	((EUID == 0)) || { RWHY[ext4]="needs root (losetup, mount)"; return 1; }
	grep -qw ext4 /proc/filesystems || { RWHY[ext4]="this kernel has no ext4"; return 1; }
	truncate -s $((2 * SIZE_MIB + 256))M "$img" &&
		mkfs.ext4 -q -F -O encrypt "$img" >"$LOGS/mkfs.log" 2>&1 ||
		{ RWHY[ext4]="mkfs.ext4 failed: $(head -c 200 "$LOGS/mkfs.log")"; return 1; }
	loop=$(losetup -f --show --direct-io=on "$img" 2>"$LOGS/losetup.log") ||
		{ RWHY[ext4]="losetup failed (no loop devices?): $(head -c 200 "$LOGS/losetup.log")"; return 1; }
	looped "$loop"
	mkdir -p "$D/ext4"
	mount "$loop" "$D/ext4" 2>"$LOGS/mount-ext4.log" ||
		{ RWHY[ext4]="mount failed: $(head -c 200 "$LOGS/mount-ext4.log")"; return 1; }
	mounted "$D/ext4"
	EXT4=$D/ext4
	mkdir -p "$EXT4/plain"
	if [[ -z ${RWHY[fscrypt]:-} ]] && ! fscrypt_dir "$EXT4" "$EXT4/enc" >"$LOGS/fscrypt.log" 2>&1; then
		RWHY[fscrypt]="the fscrypt ioctls failed (CONFIG_FS_ENCRYPTION?): $(tail -c 200 "$LOGS/fscrypt.log")"
	fi
	return 0
}
setup_ext4 || RWHY[fscrypt]=${RWHY[fscrypt]:-${RWHY[ext4]}}

# ---- dm-crypt: only where device-mapper exists --------------------------------------------------------

if [[ ! -e /dev/mapper/control ]] || ! grep -q device-mapper /proc/misc 2>/dev/null; then
	why="impossible here: the running kernel ($(uname -r)) has no device-mapper"
	grep -q '^# CONFIG_MD is not set' <<<"$KCONFIG" && why+=" (CONFIG_MD is not set)"
	grep -q '^# CONFIG_MODULES is not set' <<<"$KCONFIG" && why+=" and cannot load modules (CONFIG_MODULES is not set)"
	RWHY[dmcrypt]="$why, so no /dev/mapper/control; to be measured in the qemu VM with Debian's kernel"
else
	RWHY[dmcrypt]="not scripted on this host (device-mapper exists; see the qemu VM run)"
fi

# ---- FUSE: encfs and gocryptfs ---------------------------------------------------------------------------

ENCFS='' GOCRYPTFS=''
fuse_ok() { [[ -c /dev/fuse ]] && need fusermount fuse3; }
wait_mount() { # DIR PID
	for _ in $(seq 200); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
if ! fuse_ok; then
	RWHY[encfs]="no /dev/fuse or fusermount" RWHY[gocryptfs]="no /dev/fuse or fusermount"
else
	if need encfs encfs; then
		mkdir -p "$D/encfs-cipher" "$D/encfs"
		pass=$(openssl rand -hex 16)
		# expert mode ("x"): AES, 256-bit key, 1024-byte blocks, Block names, name IV chaining,
		# per-file IVs, no external IV chaining, no block MACs, no random bytes, holes passed
		# through; then the password.  encfs -f stays in the foreground (our child).
		printf 'x\n1\n256\n1024\n1\ny\ny\nn\nn\n0\ny\n%s\n' "$pass" |
			encfs -f -S "$D/encfs-cipher" "$D/encfs" >"$LOGS/encfs.log" 2>&1 &
		pid=$!
		started "$pid" encfs
		mounted "$D/encfs"
		if wait_mount "$D/encfs" "$pid"; then
			ENCFS=$D/encfs
		else
			RWHY[encfs]="encfs did not mount: $(tail -c 200 "$LOGS/encfs.log" | tr '\n' ' ')"
		fi
	else
		RWHY[encfs]="encfs not installed"
	fi
	if need gocryptfs gocryptfs; then
		mkdir -p "$D/gocryptfs-cipher" "$D/gocryptfs"
		(umask 077 && openssl rand -hex 32 >"$WORK/gocryptfs.pass")
		if gocryptfs -init -q -passfile "$WORK/gocryptfs.pass" "$D/gocryptfs-cipher" >"$LOGS/gocryptfs-init.log" 2>&1; then
			gocryptfs -fg -q -passfile "$WORK/gocryptfs.pass" "$D/gocryptfs-cipher" "$D/gocryptfs" \
				>"$LOGS/gocryptfs.log" 2>&1 &
			pid=$!
			started "$pid" gocryptfs
			mounted "$D/gocryptfs"
			if wait_mount "$D/gocryptfs" "$pid"; then
				GOCRYPTFS=$D/gocryptfs
			else
				RWHY[gocryptfs]="gocryptfs did not mount: $(tail -c 200 "$LOGS/gocryptfs.log" | tr '\n' ' ')"
			fi
		else
			RWHY[gocryptfs]="gocryptfs -init failed: $(head -c 200 "$LOGS/gocryptfs-init.log")"
		fi
	else
		RWHY[gocryptfs]="gocryptfs not installed"
	fi
fi

# ---- cryptstored ----------------------------------------------------------------------------------------

CS_OK=0
if [[ -x $BUILD/server/cryptstored && -x $BUILD/bench/loadgen ]]; then
	cs_start storage "$D/cs-data" && CS_OK=1 || RWHY[cryptstored]=$CS_WHY
else
	RWHY[cryptstored]="no $BUILD/server/cryptstored or $BUILD/bench/loadgen (ninja -C $BUILD)"
fi

# ---- the cells --------------------------------------------------------------------------------------------

OKEY=$(openssl rand -hex 32) OIV=$(openssl rand -hex 16)
dd_write() { # FILE [dd flags...]: SRC -> FILE, 1 MiB blocks, fdatasync; prints MB/s
	local f=$1 t0 t1
	shift
	t0=$(now)
	dd if="$SRC" of="$f" bs=1M conv=fdatasync status=none "$@" || return 1
	t1=$(now)
	mbps "$BYTES" "$t0" "$t1"
}
dd_read() { # FILE [dd flags...]: FILE -> /dev/null, 1 MiB blocks; prints MB/s
	local f=$1 t0 t1 n
	shift
	[[ -f $f ]] || { echo "no $f (its write failed?)" >&2; return 1; }
	t0=$(now)
	n=$(dd if="$f" of=/dev/null bs=1M "$@" 2>&1 | awk '/bytes/ { print $1; exit }')
	t1=$(now)
	[[ $n == "$BYTES" ]] || { echo "read $n of $BYTES bytes" >&2; return 1; }
	mbps "$BYTES" "$t0" "$t1"
}

# measure METHOD:w|r RUN
measure() {
	local m=${1%:*} op=${1##*:} json=$LOGS/$1.$2.json t0 t1
	case $m:$op in
	raw-direct:w) dd_write "$D/raw-direct" oflag=direct ;;
	raw-direct:r) dd_read "$D/raw-direct" iflag=direct ;;
	raw:w) dd_write "$D/raw" ;;
	raw:r) drop_file_cache "$D/raw" && dd_read "$D/raw" ;;
	ext4:w) dd_write "$EXT4/plain/f" ;;
	ext4:r) drop_file_cache "$EXT4/plain/f" && dd_read "$EXT4/plain/f" ;;
	fscrypt:w) dd_write "$EXT4/enc/f" ;;
	fscrypt:r) drop_file_cache "$EXT4/enc/f" && dd_read "$EXT4/enc/f" ;;
	encfs:w) dd_write "$ENCFS/f" ;;
	encfs:r) drop_file_cache "$ENCFS/f" && drop_tree_cache "$D/encfs-cipher" && dd_read "$ENCFS/f" ;;
	gocryptfs:w) dd_write "$GOCRYPTFS/f" ;;
	gocryptfs:r) drop_file_cache "$GOCRYPTFS/f" && drop_tree_cache "$D/gocryptfs-cipher" && dd_read "$GOCRYPTFS/f" ;;
	openssl:w)
		t0=$(now)
		openssl enc -aes-256-cbc -K "$OKEY" -iv "$OIV" -bufsize 1048576 -in "$SRC" -out "$D/openssl" &&
			sync "$D/openssl" || return 1
		t1=$(now)
		mbps "$BYTES" "$t0" "$t1"
		;;
	openssl:r)
		[[ -f $D/openssl ]] || return 1
		drop_file_cache "$D/openssl"
		t0=$(now)
		openssl enc -d -aes-256-cbc -K "$OKEY" -iv "$OIV" -bufsize 1048576 -in "$D/openssl" -out /dev/null || return 1
		t1=$(now)
		mbps "$BYTES" "$t0" "$t1"
		;;
	cryptstored:w)
		lg_s3 --unsigned-payload --conns 1 --size "$BYTES" --prefix st- >"$json" 2>"$json.err"
		lg_result "$json"
		;;
	cryptstored:r)
		drop_tree_cache "$D/cs-data"
		lg_s3 --op get --conns 1 --size "$BYTES" --prefix st- >"$json" 2>"$json.err"
		lg_result "$json"
		;;
	*) return 1 ;;
	esac
}

METHODS=(raw-direct raw ext4 fscrypt dmcrypt encfs gocryptfs openssl cryptstored)
declare -A NAME=(
	[raw-direct]="raw / no encryption, O_DIRECT"
	[raw]="raw / no encryption, page cache + fdatasync"
	[ext4]="ext4 on a loop device, plain directory"
	[fscrypt]="ext4 fscrypt (kernel, AES-256-XTS)"
	[dmcrypt]="dm-crypt (kernel)"
	[encfs]="encfs (FUSE, AES-256, 1 KiB blocks)"
	[gocryptfs]="gocryptfs (FUSE, AES-256-GCM)"
	[openssl]="openssl enc -aes-256-cbc + sync"
	[cryptstored]="cryptstored PUT / GET (fsync on)"
)
IDS=()
for m in "${METHODS[@]}"; do
	for op in w r; do
		[[ -n ${RWHY[$m]:-} ]] && WHY[$m:$op]=${RWHY[$m]}
		[[ $m == ext4 || $m == fscrypt ]] && [[ -z $EXT4 ]] && WHY[$m:$op]=${RWHY[$m]:-${RWHY[ext4]:-no ext4}}
		[[ $m == dmcrypt ]] || IDS+=("$m:$op")
	done
done
note "$ME: ${#IDS[@]} cells x (1 warm-up + $RUNS runs) x $SIZE_MIB MiB; disk $DISK ($DISKFS on $DISKDEV)"
run_rounds "${IDS[@]}"

KDRV=$(awk '/^name/ { n = $3 } /^driver/ && n == "xts(aes)" { print $3; exit }' /proc/crypto)

# ---- the table --------------------------------------------------------------------------------------------

{
	echo "### 2. Storage, $SIZE_MIB MiB from a tmpfs to the disk and back, 1 MiB blocks"
	echo
	env_lines
	echo "Disk: $DISK ($DISKFS on $DISKDEV).  \`bench/paper/storage.sh --runs $RUNS --size $SIZE_MIB\`: median MB/s"
	echo "(10^6 bytes/s) of $RUNS runs after a warm-up, min-max in brackets, all cells in interleaved"
	echo "rounds; x = ratio to the raw O_DIRECT row of the same column from this run.  Writes end"
	echo "with fdatasync/fsync; reads start with the files' cached pages dropped."
	echo
	echo "| method | write MB/s | x raw | read MB/s | x raw |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for m in "${METHODS[@]}"; do
		if [[ -n ${WHY[$m:w]:-} ]]; then
			echo "| ${NAME[$m]} | - | - | - | not measured: ${WHY[$m:w]} |"
			continue
		fi
		printf '| %s |' "${NAME[$m]}"
		for op in w r; do
			if [[ -n ${WHY[$m:$op]:-} ]]; then
				printf ' - | %s |' "failed: ${WHY[$m:$op]}"
			else
				printf ' %s (%s) | %s |' "$(fmt0 "$(med "$m:$op")")" "$(spread "$m:$op")" \
					"$(ratio "$(med "$m:$op")" "$(med "raw-direct:$op")")"
			fi
		done
		echo
	done
	echo
	[[ -z ${WHY[fscrypt:w]:-} ]] && echo "fscrypt over ext4-on-loop, same filesystem: write x$(ratio "$(med fscrypt:w)" "$(med ext4:w)"), read x$(ratio "$(med fscrypt:r)" "$(med ext4:r)"); the kernel's xts(aes) driver: ${KDRV:-unknown}."
} >"$OUT/storage.md"
{
	echo "# method write read"
	for m in "${METHODS[@]}"; do
		[[ -n ${WHY[$m:w]:-} ]] && continue
		w=$(med "$m:w") r=$(med "$m:r")
		printf '"%s" %s %s\n' "${NAME[$m]}" "${w:-NaN}" "${r:-NaN}"
	done
} >"$OUT/storage.dat"
cat "$OUT/storage.md"
