#!/usr/bin/env bash
# Fig 4 of the paper: training and test loss against the time sampling t (steps between the
# snapshots the model is trained on), for several losses and seeds, on the Gray-Scott recipe
# (--preset gray-scott: the authors' four training states, test on their unseen state over
# 2048 steps). The paper's claim: comparable test loss for most t, coarser t more stable.
#
#   Experiments/fig4.sh [--quick] [OUT]      (OUT defaults to experiments/fig4)
#
# Full: t ∈ {1, 2, 4, 8, 16, 32, 64} × losses {euclidean, hellinger, spectral,
# sliced-wasserstein} × seeds {0, 1} × 150 epochs = 56 runs, about 5–6 hours on 2 cores (the
# paper: 4 seeds × 4000 epochs).
# --quick: 2 × 2 × 1 runs of 2 epochs, to check that the script works (CI runs it).
# A smaller budget: TIMES, LOSSES, SEEDS, EPOCHS (e.g. TIMES=8,32 SEEDS=0 EPOCHS=100). JOBS: configurations
# trained at once (default 2, each on cores ÷ 2 threads: `nca sweep run --jobs`).
# Results: OUT/sweep.csv and OUT/sweep.html (`nca sweep report`).
# Finishing a grid run elsewhere: ONLY="7 23" trains just those configuration numbers (one after
# the other, on every core), ROWS_FROM=FILE.csv takes the configurations not run in OUT from an
# earlier report of the same grid (e.g. ONLY=7 ROWS_FROM=Docs/reproduction/fig4.csv).
source "$(dirname "$0")/common.sh"
out="${1:-experiments/fig4}"
if $quick; then
    grid="time-sampling=32,64;loss=euclidean,spectral;seed=0"
    epochs=2
else
    grid="time-sampling=${TIMES:-1,2,4,8,16,32,64};loss=${LOSSES:-euclidean,hellinger,spectral,sliced-wasserstein};seed=${SEEDS:-0,1}"
    epochs="${EPOCHS:-150}"
fi
[ -f "$out/sweep.json" ] || "$nca" sweep plan --grid "$grid" --out "$out" -- --preset gray-scott --epochs "$epochs"
if [ -n "${ONLY:-}" ]; then
    for index in $ONLY; do "$nca" sweep run "$out" --index "$index"; done
else
    "$nca" sweep run "$out" --all --jobs "${JOBS:-2}"
fi
"$nca" sweep report "$out" ${ROWS_FROM:+--rows-from "$ROWS_FROM"}
