#!/usr/bin/env bash
# The ablations of issue 5 as equal fine-tuning budgets from one trained model: every arm starts from dualhead_v6
# and trains 600 iterations with dualhead_v10's recipe (benchmarks/training/ablation_finetune.json), one ingredient
# removed per arm; the baseline runs twice (seeds 0 and 1), so that the seed-to-seed spread shows which differences
# mean anything. Every arm and v6 itself are then scored on the validation split with every window and one fixed
# decoding (v10's: peak 0.25, S1 0.5), and the table is printed. No arm is a shipping candidate: the validation
# split is what they are reported on. About 1.5 hours on two CPU cores.
# Run from the repository root; needs runs/dualhead_v6 (git show 94c4f08:src/spinemark/weights/dualhead_v6.pt),
# runs/s1_t12_pseudo_v6.json and runs/spine-mri-vb1-s1 (see the model card of dualhead_v10).
set -euo pipefail
source benchmarks/training/ablation_arms.sh
order=(baseline baseline_seed1 no_fov_crops no_biased_sampling no_s1_head)
for arm in "${order[@]}"; do
    # shellcheck disable=SC2086
    spinemark train --config benchmarks/training/ablation_finetune.json \
        ${arms[$arm]} -o "runs/ft_ablation_$arm" --overwrite --quiet
    score_windows "runs/ft_ablation_$arm/weights.pt" "runs/ft_ablation_$arm/fov"
done
mkdir -p runs/ft_ablation_start_v6
score_windows runs/dualhead_v6/weights.pt runs/ft_ablation_start_v6/fov
python benchmarks/training/ablation_table.py --windows runs/ft_ablation_start_v6 \
    "${order[@]/#/runs/ft_ablation_}"
