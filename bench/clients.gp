# bench/clients.gp: MB/s against the number of clients from the results.csv of bench/clients.sh,
# one PNG per workload (OUTDIR/clients-put.png, OUTDIR/clients-get.png), one line per server
# variant with min-max error bars.  Run by bench/clients.sh as
#   gnuplot -e "csv='OUT/results.csv'; outdir='OUT'; size='16'; runs='3'; stamp='date, ...'" bench/clients.gp
# results.csv: variant,workload,clients,median,min,max,cpu s/GB,runs,status,note.  Rows whose
# status is not "ok" are left out; a variant with no ok row of a workload is named in the title.

if (!exists("csv")) csv = "/var/tmp/cs-clients/results.csv"
if (!exists("outdir")) outdir = "/var/tmp/cs-clients"
if (!exists("size")) size = "?"
if (!exists("runs")) runs = "?"
if (!exists("stamp")) stamp = ""

set terminal pngcairo size 900,600 font "DejaVu Sans,10" noenhanced
set datafile separator comma
set logscale x
set grid xtics ytics
set key outside right top vertical
set xlabel "concurrent clients (log scale)"
set ylabel "MB/s (10^6 bytes/s of body)"
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0

# The client counts measured, the x tics; the range half a step beyond them.
clients = system("awk -F, 'NR > 1 && !s[$3]++ { print $3 }' '" . csv . "' | sort -n")
xt = ""
do for [c in clients] { xt = xt . sprintf("%s\"%s\" %s", (xt eq "" ? "" : ", "), c, c) }
eval "set xtics (" . xt . ")"
cmin = word(clients, 1) + 0.0
cmax = word(clients, words(clients)) + 0.0
set xrange [cmin / 1.6 : cmax * 1.6]

# names WORKLOAD OK: the variants with (OK = 1) / without (OK = 0) a measured row, in file order
names(w, ok) = system(sprintf("awk -F, -v w=%s -v ok=%d 'NR > 1 && $2 == w { m[$1] += ($9 == \"ok\"); if (!s[$1]++) o[++n] = $1 } END { for (i = 1; i <= n; i++) if ((m[o[i]] > 0) == ok) printf \"%%s \", o[i] }' '%s'", w, ok, csv))

do for [w in "put get"] {
	vs = names(w, 1)
	if (words(vs) > 0) {
		gone = ""
		do for [g in names(w, 0)] { gone = gone . (gone eq "" ? "\nnot measured: " : ", ") . g }
		n = words(vs)
		set output sprintf("%s/clients-%s.png", outdir, w)
		set title sprintf("%s, %s MiB objects: MB/s against clients (median of %s, bars min-max)\n%s%s", \
			(w eq "put" ? "PUT" : "GET"), size, (runs eq "1" ? "1 run" : runs . " runs"), stamp, gone)
		# A variant's rows through awk (NaN for the others' rows would break its line); each line
		# nudged sideways a little, so that the error bars do not hide each other.
		plot for [i = 1:n] sprintf("< awk -F, '$1 == \"%s\" && $2 == \"%s\" && $9 == \"ok\"' '%s'", word(vs, i), w, csv) \
			using ($3 * 1.04 ** (i - (n + 1) / 2.0)):4:5:6 \
			with yerrorlines lw 2 pt 7 ps 1 dt 1 + (word(vs, i) eq "nginx") \
			title (word(vs, i) eq "nginx" ? "nginx (plaintext)" : word(vs, i))
		unset output
	}
}
