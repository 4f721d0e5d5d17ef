#!/usr/bin/env bash
# The full Cowley fine-tuning experiment on one GPU, unattended: efficientnet-lite0 at 224 px,
# 600 steps (batch 32; no warm-up: λ is balanced from the start), λ ∈ {0.02, 0.05,
# 0.1, 0.2, 0.5} (share of the update) × {neural, shuffled, pixel} × seeds {0, 1, 2} = 45 runs
# on one split, robustness levels calibrated on the original model (printed), paired bootstrap
# of neural − each control at matched λ and matched task fidelity. Resumable: rerun the same
# command after an interruption; finished runs are kept, an interrupted one resumes from its
# last checkpoint.
#
# GPU-time estimate (not measured: no GPU was lent when this was written): per run 600 steps ×
# one forward/backward of 32 images at 224 px (efficientnet-lite0, ~0.4 GFLOP/image forward,
# ~1.2 GFLOP with backward: ~40 GFLOP/step, ~20–40 ms/step on an H100 in fp32 with its small
# kernels) ≈ 15–25 s, plus evaluation (features of 600 + 120 images, PGD 20 steps on ≤ 120
# images, noise) ≈ 5–10 s: ≈ 45 × 30 s ≈ 25 min, plus ~2 min for loading, hashing and the
# PGD-level calibration. Budget 45 min.
#
#   bash bench/finetune_cowley_gpu.sh [OUT]          # default OUT: results/finetune_cowley_full
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-results/finetune_cowley_full}"
export NEUROALIGN_OFFLINE="${NEUROALIGN_OFFLINE:-1}"
mkdir -p "$OUT"
start=$(date +%s)
python bench/finetune_cowley.py --device cuda --out "$OUT" 2>&1 | tee "$OUT/log.txt"
echo "GPU wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/log.txt"
