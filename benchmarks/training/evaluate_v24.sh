#!/usr/bin/env bash
# The rule's measurements of dualhead_v24 against dualhead_v13 (benchmarks/README.md, "Cervical and thoracic levels
# in the default model"), both with 13.6.0's decoding. Needs runs/spine-mri-vb1-s1 and runs/dualhead_v24 (its
# data.json lists the training-side cases, the same as v13's). About 30 minutes on two cores.
set -euo pipefail
D="--decode peak_threshold=0.25 --decode s1_threshold=0.5 --decode s1_edge_threshold=0.1 --decode s1_edge_link_ratio=0.5"
G="--set peak_threshold=0.25 --set s1_threshold=0.5 --set s1_edge_threshold=0.1 --set s1_edge_link_ratio=0.5"
TUNING="--subsets VB3,VB1 --cases VB3_10,VB3_26,VB3_31,VB3_42,VB1_12 --all-windows --quiet --variants full,pelvic,lumbosacral,upper_lumbar,mid_lumbar,s1_edge,random_k2,random_k3,random_k4,random_k5"
for p in cervical thoracic lumbar pelvic; do
  spinemark synth --preset $p --n 20 --seed 20 -o runs/ph/$p -q
done
for m in v13:src/spinemark/weights/dualhead_v13.pt v24:runs/dualhead_v24/weights.pt; do
  name=${m%%:*}; W=${m#*:}
  python benchmarks/fov_benchmark.py --data runs/spine-mri-vb1-s1 --weights $W $D $TUNING --out runs/fov_tune_$name
  python benchmarks/decode_grid.py runs/dualhead_v24 --weights $W --side train --subsets VB3,VB1 $G \
    --out runs/decode_${name}_train.txt
  for p in cervical thoracic lumbar pelvic; do
    spinemark predict $(ls runs/ph/$p/*.nii.gz | grep -v _seg) -o runs/ph/pred_${name}_$p -q --weights $W $D
    spinemark evaluate --pred runs/ph/pred_${name}_$p --truth runs/ph/$p -o runs/ph/eval_${name}_$p -q
  done
done
python benchmarks/compare_models.py runs/fov_tune_v13/fov_results.csv runs/fov_tune_v24/fov_results.csv
# reported whatever the decision
python benchmarks/sct_cervical.py --weights runs/dualhead_v24/weights.pt $D
python benchmarks/fov_benchmark.py --data runs/spine-mri-vb1-s1 --weights runs/dualhead_v24/weights.pt $D \
  --subsets VB3,VB1 --cases src/spinemark/train/splits/spine_mri_v1.json --split-key validation --all-windows \
  --out runs/fov_windows_v24 --quiet
python benchmarks/compare_models.py docs/benchmarks/fov_windows/fov_results.csv runs/fov_windows_v24/fov_results.csv
