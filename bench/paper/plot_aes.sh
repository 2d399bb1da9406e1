#!/usr/bin/env bash
# plot_aes.sh [OUT [PLOTS]]: draw docs/paper/aes.png from the tables bench/paper/vm.sh wrote to
# OUT/aes.md (default bench/paper/out, docs/paper): left, the native user-space rows (MB/s per
# CPU-second); right, every row in the VM as guest instructions per byte (the -icount boot),
# user space and kernel space side by side.  Needs gnuplot (gnuplot-nox); run by vm.sh.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
OUT=${1:-bench/paper/out}
PLOTS=${2:-docs/paper}
[ -s "$OUT/aes.md" ] || { echo "plot_aes: no $OUT/aes.md (run bench/paper/vm.sh)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot_aes: gnuplot not installed (gnuplot-nox)" >&2; exit 1; }
python3 - "$OUT" <<'PY'
import re, sys
out = sys.argv[1]
text = open(out + "/aes.md").read()

def table(after):
    """The rows of the first Markdown table after the heading that contains `after`."""
    part = text[text.index(after):]
    rows = []
    for line in part.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and --- line

RULES = [(r"\s*\(.*?\)|`", ""), (r"cryptstore |OpenSSL ", ""), (r"portable C AES", "portable C"),
         (r"EVP aes-256-cbc", "EVP"), (r"ipsec-mb job API, cipher only, (\d+) buffers?", r"ipsec-mb x\1"),
         (r"engine (\S+), cbc\+hmac seal\+open", r"engine \1 +hmac"),
         (r"engine ipsec-mb, cbc\+hmac, (\d+) records?", r"engine ipsec-mb +hmac x\1"),
         (r"openssl speed -evp aes-256-cbc.*", "openssl speed"),
         (r"crypto API cbc, synchronous drivers only", "crypto API, sync only"),
         (r"crypto API cbc, default", "crypto API, default"),
         (r"crypto API cbc, the kernel's table C AES", "crypto API, generic C")]

def short(s):
    for a, b in RULES:
        s = re.sub(a, b, s)
    return s.strip()
with open(out + "/aes_native.dat", "w") as f:
    for r in table("#### Today, native"):
        if r[1] not in ("", "-"):
            f.write('"%s" %s\n' % (short(r[0]), r[1]))
user, kern = {}, []
for r in table("#### Every row in the VM"):
    name, ipb = short(r[1]), r[-1]
    if r[0] == "user":
        user[name] = ipb
    else:
        kern.append((name, ipb))
with open(out + "/aes_vm.dat", "w") as f:
    for name, ipb in user.items():
        f.write('"user: %s" %s NaN\n' % (name, ipb))
    for name, ipb in kern:
        f.write('"kernel: %s" NaN %s\n' % (name, ipb))
PY
gnuplot <<GP
set terminal pngcairo size 1400,700 font "DejaVu Sans,10" noenhanced
set output "$PLOTS/aes.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
set datafile missing "NaN"
set xtics rotate by -30 left nomirror
set bmargin 16
set yrange [0:*]
set multiplot layout 1,2 title "AES-256-CBC, 1 KiB buffers: the paper's aestest today (bench/paper/vm.sh)"
set title "Native, user space: MB/s per CPU-second (higher is faster)"
set ylabel "MB/s"
unset key
plot "$OUT/aes_native.dat" using 2:xtic(1) lc rgb "#3a7bd5"
set title "In the VM (emulated): guest instructions per byte (lower is faster)"
set ylabel "instructions per byte"
set key top right
set style histogram rowstacked
plot "$OUT/aes_vm.dat" using 2:xtic(1) title "user space" lc rgb "#3a7bd5", "" using 3 title "kernel space" lc rgb "#d5573a"
unset multiplot
GP
echo "plot: $PLOTS/aes.png"
