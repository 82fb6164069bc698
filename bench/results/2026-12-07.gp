set terminal pngcairo size 1600,650 font "sans,10"
set output "/work/main/bench/results/2026-12-07.png"
set multiplot layout 1,2 title "Portico vs peers (medians)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set xtics rotate by -30
set datafile missing "NaN"
set title "throughput (req/s, higher is better)"
set yrange [0:*]
plot for [i=2:7] "/work/main/bench/results/2026-12-07-rps.dat" using i:xtic(1) title columnheader(i)
set title "p99 latency (ms, lower is better)"
set logscale y
set yrange [*:*]
plot for [i=2:7] "/work/main/bench/results/2026-12-07-p99.dat" using i:xtic(1) title columnheader(i)
unset multiplot
