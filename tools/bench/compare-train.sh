#!/usr/bin/env bash
# One LoRA GRPO step, tina's default pass against PyTorch, on the same weights, one after the other.
#
#   tools/bench/compare-train.sh WORK_DIR [STEPS]
#
# Shapes: stories15M (the shared Llama checkpoint) at batch 8 × 256, and the 40M Qwen2 benchmark
# shape (random weights, made in WORK_DIR) at 1 × 2,048; rank 32, alpha 128. Needs ../shared
# beside the checkout and Debian's torch (tools/bench/README.md). Prints one line per run with the
# load average.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:?usage: tools/bench/compare-train.sh WORK_DIR [STEPS]}
steps=${2:-5}
shared=../shared
[ -d "$shared/models/stories15M" ] || { echo "compare-train: $shared/models/stories15M not found (run from a checkout with ../shared beside it)" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "compare-train: no torch for /usr/bin/python3 (apt-get install -y python3-torch, see tools/bench/README.md)" >&2; exit 2; }
mkdir -p "$work"
mid="$work/qwen2-mid-40m"
[ -f "$mid/model.safetensors" ] || ./tina init-model --config "$shared/bench/configs/qwen2-mid-40m.json" --random --out "$mid" >/dev/null 2>&1

load() { cut -d' ' -f1-3 /proc/loadavg; }
run() { # name, tina args, torch args
  echo "== $1: tina (load $(load))"
  ./tina bench train $2 --steps "$steps" 2>&1 | grep -v '^WARNING' | tail -n 3
  echo "== $1: torch (load $(load))"
  (cd tools/bench && /usr/bin/python3 torch_lora_grpo_step.py $3 --rank 32 --alpha 128 --steps "$steps" 2>/dev/null | tail -n 1)
}
s15=$(realpath "$shared/models/stories15M")
run "stories15M 8 x 256" "--model $s15 --batch 8 --seq 256" "--model $s15 --batch 8 --seq 256"
run "40M 1 x 2048" "--model $mid --batch 1 --seq 2048" "--model $(realpath "$mid") --batch 1 --seq 2048"
echo "done (load $(load))"
