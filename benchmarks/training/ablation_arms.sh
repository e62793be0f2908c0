# Sourced by the ablation scripts: the arms (train options, one ingredient removed each; the baseline twice) and
# the scoring every arm gets (validation split, every window, v10's decoding: peak 0.25, S1 0.5).
declare -A arms=(
    [baseline]=""
    [baseline_seed1]="--set seed=1"
    [no_biased_sampling]="--set biased_fraction=0"
    [no_fov_crops]="--set fov_crop_prob=0"
    [no_s1_head]="--set s1_head=false"
)
score_windows() {  # weights, output folder
    python benchmarks/fov_benchmark.py --data runs/spine-mri-vb1-s1 --weights "$1" --subsets VB3,VB1 \
        --cases src/spinemark/train/splits/spine_mri_v1.json --split-key validation --seed 0 --all-windows \
        --decode peak_threshold=0.25 --decode s1_threshold=0.5 --out "$2" --quiet --overwrite
}
