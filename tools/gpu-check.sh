#!/usr/bin/env bash
# GPU device check, prepared for a machine with an NVIDIA GPU and no internet (Maven's repository
# already holding the -Pgpu dependencies, or a build copied in). One short run:
#   1. parity of ../shared/fixtures/qwen2-small on cuda and tensorrt (logits, adapter, GRPO gradients on cuda),
#   2. the GPU tests (CudaGpuTest, TensorRtGpuTest),
#   3. throughput on the random DeepSeek-R1-Distill-Qwen-1.5B shape: tokens/s at batch 1, 16, 64 on cuda and
#      tensorrt, and the training step time on cuda.
# Writes gpu-check.md (a Markdown table) and one log per step to OUT_DIR (default: $OUT, else ./out/gpu-check).
# A failing step is recorded with its last lines and the script goes on.
# Usage: tools/gpu-check.sh [OUT_DIR]     env: NEW_TOKENS (default 64), SKIP_1B5=1 to skip step 3
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${OUT:-$root/out/gpu-check}}"
mkdir -p "$out"
report="$out/gpu-check.md"
export TINA_GPU=1                                   # ./tina rebuilds with the gpu profile
export TINA_CACHE="${TINA_CACHE:-$out/cache}"       # exports and TensorRT engines
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
new_tokens="${NEW_TOKENS:-64}"
fixture="$root/../shared/fixtures/qwen2-small"
tina="$root/tina"

echo "# GPU check $(date -u +%FT%TZ)" >"$report"
echo >>"$report"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >"$out/nvidia-smi.txt" 2>&1; then
  echo "no NVIDIA GPU visible (nvidia-smi failed); nothing to check" | tee -a "$report"
  exit 1
fi
echo "GPU: \`$(head -1 "$out/nvidia-smi.txt")\`, driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)" >>"$report"

# CUDA 13 / cuDNN 9 / TensorRT from pip wheels (a pip-installed PyTorch brings nvidia-*), when the system has none
if command -v python3 >/dev/null; then
  libs="$(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
try:
    import tensorrt_libs
    roots += list(tensorrt_libs.__path__)
except Exception:
    pass
dirs = []
for r in roots:
    dirs += [d for d in glob.glob(os.path.join(r, "*", "lib")) + [r] if glob.glob(os.path.join(d, "*.so*"))]
print(":".join(dirs))
PY
)"
  [ -n "$libs" ] && export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "LD_LIBRARY_PATH: \`${LD_LIBRARY_PATH:-}\`" >>"$report"
for so in libcudart.so.13 libcublas.so.13 libcudnn.so.9 libnvinfer.so.10 libnvonnxparser.so.10; do
  if ldconfig -p 2>/dev/null | grep -q "$so" || { [ -n "${LD_LIBRARY_PATH:-}" ] && find ${LD_LIBRARY_PATH//:/ } -maxdepth 1 -name "$so*" 2>/dev/null | grep -q .; }; then
    echo "- $so: found" >>"$report"
  else
    echo "- $so: **not found**" >>"$report"
  fi
done
echo >>"$report"

# Build once with the GPU natives (offline when the repository is primed).
if ! (cd "$root" && mvn -B -o -q -Pgpu -DskipTests install >"$out/build.log" 2>&1 || mvn -B -q -Pgpu -DskipTests install >>"$out/build.log" 2>&1); then
  echo "**build failed**: see build.log" >>"$report"; tail -20 "$out/build.log" | sed 's/^/    /' >>"$report"; exit 1
fi

step() { # name, command...
  local name="$1"; shift
  local log="$out/$name.log" t0 t1 rc
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  printf '| %s | %s | %.1f s |\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo "**FAILED (exit $rc)**")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >>"$out/steps.md"
  if [ $rc -ne 0 ]; then { echo "### $name failed"; echo '```'; tail -15 "$log"; echo '```'; } >>"$out/failures.md"; fi
  return 0
}
: >"$out/steps.md"; : >"$out/failures.md"

# 1. parity on each GPU path
for dev in cuda tensorrt; do
  step "parity-$dev" "$tina" parity --model "$fixture/model" --adapter "$fixture/adapter" --case "$fixture/case.safetensors" --device "$dev" \
    $([ "$dev" = cuda ] && echo --grpo)
done
# 2. the gated GPU tests (they run, not skip, here)
step gpu-tests bash -c "cd '$root' && mvn -B -o -Pgpu -Dtest='TensorRtGpuTest,CudaGpuTest' -Dsurefire.failIfNoSpecifiedTests=false test"

# 3. throughput on the 1.5B shape (random weights)
if [ -z "${SKIP_1B5:-}" ]; then
  m="$out/r1-1.5b"
  [ -f "$m/config.json" ] || step init-1.5b "$tina" init-model --config "$root/onnx-models/configs/deepseek-r1-distill-qwen-1.5b.json" --random --out "$m" --dtype bf16 --shards 2
  [ -f "$m-onnx/tina-model.json" ] || step export-1.5b "$tina" export --model "$m" --out "$m-onnx"
  for dev in cuda tensorrt; do
    step "bench-generate-$dev" "$tina" bench generate --model "$m-onnx" --device "$dev" --batches 1,16,64 --new-tokens "$new_tokens" --repeats 1 \
      --prompt-ids 151646,100,200,300,400,500,600,700 --out "$out/bench-generate-$dev.json"
  done
  step bench-train-cuda "$tina" bench train --model "$m-onnx" --device cuda --batch 8 --seq 256 --steps 3
fi

{
  echo "## Steps"; echo; echo "| step | result | wall |"; echo "|---|---|---|"; cat "$out/steps.md"; echo
  echo "## Parity"; echo; for dev in cuda tensorrt; do echo "**$dev**"; echo '```'; grep -E "max_abs_err|err/max|rel_err" "$out/parity-$dev.log" 2>/dev/null | head -40; echo '```'; done
  echo "## Throughput (random 1.5B shape, $new_tokens new tokens per sequence)"; echo
  echo "| device | batch | tokens/s | × batch 1 |"; echo "|---|---|---|---|"
  for dev in cuda tensorrt; do
    f="$out/bench-generate-$dev.json"
    [ -f "$f" ] && python3 -c "
import json,sys
for r in json.load(open('$f')):
    if 'batch' in r and 'peer' not in r: print('| $dev | %d | %.1f | %.2f |' % (r['batch'], r['tokens_per_second'], r.get('ratio_vs_batch1') or float('nan')))
" 2>/dev/null
  done
  echo; echo "Training step (cuda):"; echo '```'; grep -E "median step|per micro-batch" "$out/bench-train-cuda.log" 2>/dev/null; echo '```'
  echo "TensorRT copies:"; echo '```'; grep -h "TensorRT copies" "$out"/bench-generate-tensorrt.log 2>/dev/null; echo '```'
  [ -s "$out/failures.md" ] && { echo "## Failures"; cat "$out/failures.md"; }
} >>"$report"
echo "report: $report"
