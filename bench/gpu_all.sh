#!/usr/bin/env bash
# Issue 29 §5: the GPU checks in one run, under 10 minutes on one H100-class GPU.
#   bash bench/gpu_all.sh            # from the repository root, with the package importable
# Each bench runs under its own time limit; outputs go to $OUT (or bench-gpu-<date>/) as <bench>.txt,
# and every headline line is collected in summary.txt. A bench that times out or fails is said so
# and the next one runs. Only real figures: nothing runs without a CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" NEUROALIGN_OFFLINE=1
OUT="${OUT:-bench-gpu-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_all: no CUDA device; nothing run (no GPU figures are simulated)" | tee "$OUT/summary.txt"; exit 1
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" | tee "$OUT/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/summary.txt" 2>&1 || true

run() {  # run NAME LIMIT_S CMD...: output to $OUT/NAME.txt, its headline lines to summary.txt
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "== $name: $*" | tee -a "$OUT/summary.txt"
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  grep -E "bench_|x faster|FLOP floor|extraction /|Pearson|Spearman|speed-up|ratio" "$OUT/$name.txt" >> "$OUT/summary.txt"
  echo "   rc $rc, $((SECONDS - t0)) s$([ $rc -eq 124 ] && echo ' (timed out)')" | tee -a "$OUT/summary.txt"
}

# 1. ridge case A on the GPU: GCV and its FLOP floor, K-fold, against himalaya's KernelRidgeCV (torch_cuda)
run ridge 200 "$PY" bench/bench_ridge.py --only gcv_floor,neuroalign_gcv,neuroalign_kfold,himalaya_kernel_ridge_cv --timeout 150
# 2. extraction throughput against the bare loops, images per second (no RSS part)
run extraction 150 "$PY" bench/bench_extraction.py --device cuda --n 1024 --reps 3 --skip-rss
# 3. RSA bootstrap, Pearson and Spearman, against rsatoolbox (CPU; rsatoolbox has no GPU path)
run rsa 120 "$PY" bench/bench_rsa.py --device cuda --rsa-samples 2
# 4. every VGG16 layer, bounded memory, on the GPU (quick: 2 sessions × 96 images + 92 objects)
run scale 110 "$PY" bench/bench_scale.py --device cuda --quick
echo "gpu_all: done; $OUT/summary.txt" | tee -a "$OUT/summary.txt"
