#!/usr/bin/env bash
# The ablations of issue 5 at one equal, short budget: four runs from scratch (500 iterations, batch 4, one thread
# each), the baseline recipe of dualhead_v1 and three variants that each remove one ingredient; each model is then
# scored on the validation split (all levels, and per field-of-view variant), and the table is printed.
# Two runs at a time on a two-core CPU: about an hour. Run from the repository root with ../shared/data/spine-mri.
set -euo pipefail
data=../shared/data/spine-mri
run() {
    spinemark train --config "benchmarks/training/ablation_$1.json" -o "runs/ablation_$1" --quiet
    python -m spinemark.train.validate "runs/ablation_$1/weights.pt" "$data" spine_mri_v1 \
        -o "runs/ablation_$1/validation.json" 2> "runs/ablation_$1/validation.log"
}
fov() {
    python benchmarks/fov_benchmark.py --method dualhead --weights "runs/ablation_$1/weights.pt" --subsets VB3,VB1 \
        --cases src/spinemark/train/splits/spine_mri_v1.json --split-key validation --seed 0 \
        --out "runs/ablation_$1/fov" --quiet --overwrite
}
run baseline & run no_biased_sampling & wait
run no_fov_crops & run no_s1_head & wait
for r in baseline no_biased_sampling no_fov_crops no_s1_head; do fov "$r"; done
python benchmarks/training/ablation_table.py runs/ablation_baseline runs/ablation_no_biased_sampling \
    runs/ablation_no_fov_crops runs/ablation_no_s1_head
