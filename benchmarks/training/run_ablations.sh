#!/usr/bin/env bash
# The ablations of issue 5 at one equal, short budget: four runs from scratch (500 iterations, batch 4, one thread
# each), the baseline recipe of dualhead_v1 and three variants that each remove one ingredient; then each model
# is scored on the validation split. Two runs at a time on a two-core CPU: about 50 minutes.
# Run from the repository root with ../shared/data/spine-mri present.
set -euo pipefail
data=../shared/data/spine-mri
run() {
    spinemark train --config "benchmarks/training/ablation_$1.json" -o "runs/ablation_$1" --quiet
    python -m spinemark.train.validate "runs/ablation_$1/weights.pt" "$data" spine_mri_v1 \
        -o "runs/ablation_$1/validation.json" 2> "runs/ablation_$1/validation.log"
}
run baseline & run no_biased_sampling & wait
run no_fov_crops & run no_s1_head & wait
