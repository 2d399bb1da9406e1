# bench/paper/plot.gp: the PNG figures of docs/PAPER.md from the .dat files the table scripts
# write.  Run by bench/paper/tables.sh as
#   gnuplot -e "indir='OUT'; outdir='docs/paper'; stamp='date, machine'" bench/paper/plot.gp
# Each .dat: a quoted label, then one column per series (NaN where a cell was not measured).

if (!exists("indir")) indir = "bench/paper/out"
if (!exists("outdir")) outdir = "docs/paper"
if (!exists("stamp")) stamp = ""

set terminal pngcairo size 1100,650 font "DejaVu Sans,10" noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside top center horizontal
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
set xtics rotate by -25 left nomirror
set bmargin 12
set rmargin 24
set datafile missing "NaN"

f = indir . "/storage.dat"
if (system("test -s " . f . " && echo y") eq "y") {
	set output outdir . "/storage.png"
	set title "Storage: write and read, 1 MiB blocks, tmpfs to disk (median MB/s)\n" . stamp
	set ylabel "MB/s (10^6 bytes/s)"
	plot f using 2:xtic(1) title "write (synced)", "" using 3 title "read (cold)"
	unset output
}

f = indir . "/network.dat"
if (system("test -s " . f . " && echo y") eq "y") {
	set output outdir . "/network.png"
	set title "Network over loopback (median MB/s)\n" . stamp
	set ylabel "MB/s (10^6 bytes/s)"
	plot f using 2:xtic(1) title "iperf3 (for netperf)", "" using 3 title "netcat", \
	     "" using 4 title "filemover (srvmodels)", "" using 5 title "ssh host cat"
	unset output
}

f = indir . "/models.dat"
if (system("test -s " . f . " && echo y") eq "y") {
	set output outdir . "/models.png"
	set title "Server models: PUT bodies into a tmpfs (median MB/s)\n" . stamp
	set ylabel "MB/s (10^6 bytes/s)"
	plot f using 2:xtic(1) title "1 client", "" using 3 title "10 clients", "" using 4 title "100 clients"
	unset output
}

f = indir . "/speed.dat"
if (system("test -s " . f . " && echo y") eq "y") {
	set output outdir . "/speed.png"
	set title "openssl speed, 1 KiB blocks (median MB/s)\n" . stamp
	set ylabel "MB/s (10^6 bytes/s)"
	plot f using 2:xtic(1) title "1 process, per CPU-second", "" using 3 title "1 process, wall clock", \
	     "" using 4 title "-multi nproc, wall clock"
	unset output
}
