#!/bin/sh
# The injection-recovery sweep of issue 12 (bench/injection_recovery.py), sized to about
# 2.5-3 hours of an idle 2-core machine.  Resumable: every step skips the runs already in
# bench/results/injection_recovery/*.jsonl (failed runs are tried again), so after an
# interruption the same command carries on where it stopped:
#
#     sh bench/injection_sweep.sh            # from the repository root, or any folder
#
# Steps, most important first (so a partial sweep already measures every goal):
#   1. first pass on empty sub-fields: 100 per host (Pleiades host 60), 360 runs:
#      0 claims in 360 bounds the false-claim rate below 0.83 % (95 %, one-sided)
#   2. first pass at the goals' edge (N = 50, 100 x 5, 7, 10 cluster dispersions), 10 reps
#   3. 2-D pm pipeline at the edge: 2 reps on RA 45 and Blanco 1 DR2/DR3, 1 on the Pleiades
#   4. full model (sky + parallax + pm) at the edge, N = 50, a handful of fits
#   5. first pass over the whole N x offset map (2nd replicate; the pilot's is the 1st),
#      dispersion and distance designs (3 replicates)
#   6. 2-D pm pipeline on the map at N = 200, 1000 x offset 2, 10, 50 mas/yr
#   7. 2-D pm pipeline fitted anyway on empty sub-fields (compare_to_field's false claims)
#   8. more at the edge: a 3rd replicate of the 2-D fits, the full model at every edge point
#   9. the pm-only oracle for every injected fit (oracle.jsonl: the information limit)
#  10. summary.md, completeness.json, completeness_maps.png, reliability.png
# Each step's start and end (date, load average) go to sweep_log.md next to the results.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=bench/results/injection_recovery
LOG=$OUT/sweep_log.md
mkdir -p "$OUT"
[ -f "$LOG" ] || printf '# Sweep log (bench/injection_sweep.sh)\n\n| when | step | load average |\n|---|---|---|\n' > "$LOG"

step() {
    name=$1
    shift
    echo "| $(date -u '+%Y-%m-%d %H:%M:%S UTC') | start $name | $(cut -d' ' -f1-3 /proc/loadavg) |" >> "$LOG"
    nice -n 10 "$PY" bench/injection_recovery.py run --out "$OUT" "$@"
    echo "| $(date -u '+%Y-%m-%d %H:%M:%S UTC') | end $name | $(cut -d' ' -f1-3 /proc/loadavg) |" >> "$LOG"
}

step null-detect --mode detect --design null --reps 100 --hosts ra45 blanco1_dr2 blanco1_dr3
step null-detect-pleiades --mode detect --design null --reps 60 --hosts pleiades
step boundary-detect --mode detect --design boundary --reps 10
step boundary-fit --mode fit --design boundary --reps 2 --hosts ra45 blanco1_dr2 blanco1_dr3
step boundary-fit-pleiades --mode fit --design boundary --reps 1 --hosts pleiades
step boundary-fit-full --mode fit --features full --design boundary --reps 1 \
    --hosts ra45 blanco1_dr2 blanco1_dr3 --n-values 50 --match "sep=5.0" "rep=0"
step boundary-fit-full-10 --mode fit --features full --design boundary --reps 1 \
    --hosts ra45 blanco1_dr2 blanco1_dr3 --n-values 50 --match "sep=10.0" "rep=0"
step map-detect --mode detect --design map --reps 2
step shape-detect --mode detect --design dispersion distance --reps 3 --hosts blanco1_dr3
step map-fit --mode fit --design map --reps 1 --hosts ra45 blanco1_dr3 pleiades \
    --n-values 200 1000 --offset-values 2 10 50
step null-fit --mode fit --design null --reps 5 --fit-anyway
step boundary-fit-rep3 --mode fit --design boundary --reps 3 --hosts ra45 blanco1_dr2 blanco1_dr3
step boundary-fit-full-all --mode fit --features full --design boundary --reps 1 \
    --hosts ra45 blanco1_dr2 blanco1_dr3
nice -n 10 "$PY" bench/injection_recovery.py oracle --out "$OUT"
nice -n 10 "$PY" bench/injection_recovery.py summarize --out "$OUT"
echo "| $(date -u '+%Y-%m-%d %H:%M:%S UTC') | summary written | $(cut -d' ' -f1-3 /proc/loadavg) |" >> "$LOG"
