#!/bin/sh
# check-ct.sh: every comparison of a MAC, tag, signature, digest or secret must be
# constant time (CRYPTO_memcmp / secmem_eq).  The grep-able rule: in lib/, server/
# and cli/, a line that calls memcmp, bcmp, strcmp, strncmp or strcasecmp and
# mentions mac, tag, sig, hmac, digest, secret, md5 or hash is an error unless it
# carries a "ct-ok:" comment saying why the bytes compared are not secret (a
# field name, a public test vector, an ETag).  Prints TAP, one case per file.
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files 'lib/*.c' 'server/*.c' 'cli/*.c' 2>/dev/null)
[ -n "$files" ] || files=$(find lib server cli -name '*.c' 2>/dev/null)
n=0
for f in $files; do n=$((n + 1)); done
echo "1..$n"
i=0
rc=0
for f in $files; do
	i=$((i + 1))
	bad=$(grep -nE '\b(memcmp|bcmp|strcmp|strncmp|strcasecmp)[[:space:]]*\(' "$f" |
		grep -iE 'mac|tag|sig|hmac|digest|secret|md5|hash' | grep -v 'ct-ok:')
	if [ -z "$bad" ]; then
		echo "ok $i - $f"
	else
		echo "not ok $i - $f: variable-time comparison of what may be secret"
		echo "$bad" | sed 's/^/# /'
		rc=1
	fi
done
exit $rc
