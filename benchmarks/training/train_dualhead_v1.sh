#!/usr/bin/env bash
# Retrain the shipped default model dualhead_v1: three runs, each warm-started from the one before.
# Run from the repository root with ../shared/data/spine-mri present. CPU: about an hour on two cores.
# The third run stops at its time limit (45 min), so the number of iterations it reaches depends on the machine;
# the shipped checkpoint is the best tuning-loss one (iteration 1050 of 1131 on the machine it was made on).
set -euo pipefail
spinemark train --config benchmarks/training/dualhead_v1a.json -o runs/dualhead_v1a   # 100 it, real data only
spinemark train --config benchmarks/training/dualhead_v1b.json -o runs/dualhead_v1b   # 100 it, + 30 phantoms
spinemark train --config benchmarks/training/dualhead_v1c.json -o runs/dualhead_v1    # sigma 6 mm, pos_weight 50
python -m spinemark.train.validate runs/dualhead_v1/weights.pt ../shared/data/spine-mri spine_mri_v1 \
    -o runs/dualhead_v1/validation.json
