#!/bin/sh
# run.sh: fuzz the targets of tests/fuzz for a while each, and say in TAP
# whether any crashed.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# BUILD_DIR is a build made with -Dfuzz=true (see tests/fuzz/meson.build);
# SECONDS is the time each target runs (libFuzzer -max_total_time); the
# targets default to all of them.  Two run at a time (the machine has two
# cores).  Each starts from a copy of its corpus (tests/fuzz/corpus/TARGET,
# regression inputs included) in a scratch directory, so the checked-in
# corpus is never written to; libFuzzer runs with -rss_limit_mb=2048 and
# -timeout=10, ASan/UBSan stop at the first error, and LeakSanitizer is on.
#
# Prints one TAP line per target:
#   ok 3 - fuzz awschunked: 123456 runs, no crash
#   not ok 4 - fuzz s3xml: crash-<sha1> (first bytes: 3c 44 65 ...)
# with libFuzzer's coverage (cov, ft) and speed as a comment, and exits 1 if
# any target crashed, leaked, timed out or ran out of memory.  The scratch
# directory of a failed target is kept, with the input that broke it and the
# log; replay the input with `BUILD_DIR/tests/fuzz/fuzz_TARGET FILE`, and keep
# it as tests/fuzz/corpus/TARGET/regress-<name> once fixed.
#
# Environment: FUZZ_JOBS (default 2) targets at a time; FUZZ_ARGS extra
# libFuzzer options; FUZZ_KEEP=1 keeps every scratch directory.

ALL_TARGETS="http sigv4 awschunked s3xml label format keystore objmeta audit cli_xml"

usage() {
	echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
	echo "targets: $ALL_TARGETS" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)

# --one BUILD_DIR SECONDS TARGET WORKDIR: fuzz one target (run by xargs below).
if [ "$1" = "--one" ]; then
	build=$2 secs=$3 t=$4 work=$5
	exe=$build/tests/fuzz/fuzz_$t
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
	if [ -d "$here/corpus/$t" ]; then
		cp -R "$here/corpus/$t/." "$work/$t/corpus/"
	fi
	if [ ! -x "$exe" ]; then
		echo "not built: $exe" >"$work/$t/log"
		echo 127 >"$work/$t/rc"
		exit 0
	fi
	# shellcheck disable=SC2086
	ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" $FUZZ_ARGS \
		"$work/$t/corpus" >"$work/$t/log" 2>&1
	echo $? >"$work/$t/rc"
	exit 0
fi

[ $# -ge 2 ] || usage
build=$1 secs=$2
shift 2
case $secs in
'' | *[!0-9]*) usage ;;
esac
targets=${*:-$ALL_TARGETS}
for t in $targets; do
	case " $ALL_TARGETS " in
	*" $t "*) ;;
	*) echo "unknown target: $t" >&2 && usage ;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cryptstore-fuzz-run.XXXXXX") || exit 1
printf '%s\n' $targets | xargs -P "${FUZZ_JOBS:-2}" -I{} sh "$0" --one "$build" "$secs" {} "$work"

n=0
for t in $targets; do
	n=$((n + 1))
done
echo "1..$n"
i=0
failed=0
for t in $targets; do
	i=$((i + 1))
	log=$work/$t/log
	rc=$(cat "$work/$t/rc" 2>/dev/null || echo 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -n 1)
	stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" 2>/dev/null |
		tail -n 1 | sed 's/^#[0-9]*[[:space:]]*[A-Z]*[[:space:]]*//')
	artifact=$(ls "$work/$t/artifacts/" 2>/dev/null | head -n 1)
	if [ "$rc" = 0 ] && [ -z "$artifact" ]; then
		echo "ok $i - fuzz $t: ${runs:-0} runs, no crash"
		echo "#   $t: $stats"
		[ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "${work:?}/$t"
	else
		failed=1
		if [ -n "$artifact" ]; then
			bytes=$(od -An -tx1 -N24 "$work/$t/artifacts/$artifact" | tr -s ' \n' ' ')
			echo "not ok $i - fuzz $t: $work/$t/artifacts/$artifact (first bytes:${bytes})"
		else
			echo "not ok $i - fuzz $t: exit status $rc, no input saved"
		fi
		grep -E 'ERROR|FUZZ_CHECK|runtime error|SUMMARY|not built|^    #[0-9] ' "$log" | head -n 12 |
			sed 's/^/#   /'
		echo "#   log: $log"
	fi
done
if [ "$failed" = 0 ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then
	rm -rf "$work"
fi
exit "$failed"
