#!/usr/bin/env bash
# The ablations of issue 5 from scratch at one equal budget, all arms at once on one GPU machine.
#
#   bash benchmarks/training/run_gpu_ablations.sh train [DATA [TRAIN OPTIONS]]  # six runs side by side (~8 min
#                                                                  # on 16 cores + 1 GPU); options go to every arm
#   bash benchmarks/training/run_gpu_ablations.sh score          # each arm on the validation split, then the tables
#
# Every arm trains dualhead_v10's data and recipe (benchmarks/training/gpu_ablation.json: VB3, IVD and the
# re-read VB1, the S1/T12 pseudo-labels, 30 phantoms, 70% field-of-view crops) from random weights, 2500
# iterations, one ingredient removed per arm; the baseline runs twice (seeds 0 and 1) so that the seed-to-seed
# spread shows which differences mean anything; phantoms_only trains on the 30 phantoms alone. Patches are drawn
# by two worker processes per arm (`workers`), the network runs on `device` (cuda; DEVICE=cpu to run elsewhere).
# DATA (default runs/spine-mri-vb1-s1) may be that folder packed by benchmarks/training/pack_cases.py: the same
# voxels and centres in a tenth of the bytes. Needs runs/s1_t12_pseudo_v6.json (model card of dualhead_v10).
# Scoring: every window, the validation split, one fixed decoding (v10's: peak 0.25, S1 0.5). No arm is a
# shipping candidate: the validation split is what they are reported on.
set -euo pipefail
source benchmarks/training/ablation_arms.sh
arms[phantoms_only]=""
order=(baseline baseline_seed1 no_biased_sampling no_fov_crops no_s1_head phantoms_only)
case "${1:-}" in
train)
    data=${2:-runs/spine-mri-vb1-s1}
    extra=("${@:3}")
    pids=()
    for arm in "${order[@]}"; do
        src=(--config benchmarks/training/gpu_ablation.json --data "$data")
        [[ $arm == phantoms_only ]] && src=(--config benchmarks/training/gpu_ablation_phantoms_only.json)  # no scans
        # shellcheck disable=SC2086
        python3 -m spinemark.cli train "${src[@]}" ${arms[$arm]} --set "device=${DEVICE:-cuda}" "${extra[@]}" \
            -o "runs/gpu_ablation_$arm" --overwrite > "runs/gpu_ablation_$arm.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { echo "arm ${order[$i]} failed: runs/gpu_ablation_${order[$i]}.log"; failed=1; }
    done
    exit $failed
    ;;
score)
    for arm in "${order[@]}"; do
        score_windows "runs/gpu_ablation_$arm/weights.pt" "runs/gpu_ablation_$arm/fov"
    done
    python benchmarks/training/ablation_table.py --windows --baselines 2 "${order[@]/#/runs/gpu_ablation_}"
    ;;
*)
    echo "usage: $0 train [DATA [TRAIN OPTIONS]] | score" >&2
    exit 2
    ;;
esac
