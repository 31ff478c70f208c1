#!/usr/bin/env bash
# GPU device check for a machine with an NVIDIA GPU, no internet and possibly no JDK or Maven. One short run:
#   1. parity of the qwen2-small fixture on cpu, then cuda (logits, adapter, GRPO gradients; tensorrt too where TensorRT is installed),
#   2. from a checkout only: the GPU tests (CudaGpuTest, TensorRtGpuTest; they need Maven),
#   3. on the random DeepSeek-R1-Distill-Qwen-1.5B shape: tokens/s at batch 1, 16, 64 and the training step time on cuda.
# Which tina runs, first that applies:
#   TINA_BUNDLE=DIR   a folder with a CUDA distribution's .tar.xz (tina dist --cuda) and fixture-qwen2-small.tar.xz:
#                     unpacked into a temporary folder (docs/distribution.md, "The GPU check bundle")
#   TINA_HOME=DIR     an unpacked CUDA distribution (DIR/bin/tina); also when this script is DIR/bin/gpu-check.sh
#   otherwise         the checkout's ./tina, built once with -Pgpu (offline when Maven's repository is primed)
# FIXTURE=DIR (default: the bundle's, else ../shared/fixtures/qwen2-small). Every step has its own timeout inside one
# overall DEADLINE (seconds, default 540); a failed or timed-out step is recorded and the rest still run.
# Writes to OUT_DIR (default: $OUT, else ./out/gpu-check) only gpu-check.md (Markdown table), gpu-check.log (every
# step's output) and bench-generate-*.json; models and caches go to a temporary folder.
# Usage: tools/gpu-check.sh [OUT_DIR]     env: NEW_TOKENS (default 64), SKIP_1B5=1 to skip step 3
set -uo pipefail
start=$(date +%s)
deadline=$((start + ${DEADLINE:-540}))
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${OUT:-$here/../out/gpu-check}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
report="$out/gpu-check.md"
log="$out/gpu-check.log"
work="$(mktemp -d "${TMPDIR:-/tmp}/tina-gpu-check.XXXXXX")"
export TINA_CACHE="${TINA_CACHE:-$work/cache}"       # exports and TensorRT engines
new_tokens="${NEW_TOKENS:-64}"
: >"$log"
: >"$work/steps.md"; : >"$work/failures.md"

if [ -n "${TINA_BUNDLE:-}" ]; then
  for a in "$TINA_BUNDLE"/*.tar.xz; do tar -xJf "$a" -C "$work" >>"$log" 2>&1 || echo "cannot unpack $a" >>"$log"; done
  TINA_HOME="$(ls -d "$work"/tina-*-cuda* 2>/dev/null | head -1)"
  FIXTURE="${FIXTURE:-$work/qwen2-small}"
fi
if [ -z "${TINA_HOME:-}" ] && [ -x "$here/tina" ] && [ -d "$here/../runtime" ]; then TINA_HOME="$here/.."; fi
if [ -n "${TINA_HOME:-}" ]; then
  mode="distribution $(basename "$(cd "$TINA_HOME" && pwd)")"
  tina="$TINA_HOME/bin/tina"
  root=
else
  root="$(cd "$here/.." && pwd)"
  mode="checkout $root"
  tina="$root/tina"
  export TINA_GPU=1                                 # ./tina rebuilds with the gpu profile
  export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
fi
fixture="${FIXTURE:-${root:-$here/..}/../shared/fixtures/qwen2-small}"

{ echo "# GPU check $(date -u +%FT%TZ)"; echo; echo "tina: $mode"; echo; } >"$report"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >>"$log" 2>&1; then
  echo "no NVIDIA GPU visible (nvidia-smi failed); nothing to check" | tee -a "$report"
  exit 1
fi
echo "GPU: \`$(nvidia-smi -L | head -1)\`, driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)" >>"$report"

# CUDA 13 / cuDNN 9 / TensorRT from pip wheels (a pip-installed PyTorch brings nvidia-*), when the system has none.
# A distribution's bin/tina finds the nvidia-* wheels itself; this is for the checkout and for the report.
if command -v python3 >/dev/null; then
  libs="$(python3 - <<'PY' 2>/dev/null
import glob, os
roots = []
for name in ("nvidia", "tensorrt_libs"):
    try:
        roots += list(__import__(name).__path__)
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
have() { ldconfig -p 2>/dev/null | grep -q "$1" || { [ -n "${LD_LIBRARY_PATH:-}" ] && find ${LD_LIBRARY_PATH//:/ } -maxdepth 1 -name "$1*" 2>/dev/null | grep -q .; }; }
for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcufft.so.12 libcudnn.so.9 libnvinfer.so.10 libnvonnxparser.so.10; do
  if have "$so"; then echo "- $so: found" >>"$report"; else echo "- $so: **not found**" >>"$report"; fi
done
echo >>"$report"
tensorrt=; have libnvinfer.so.10 && [ -z "${TINA_HOME:-}" ] && tensorrt=1   # a distribution carries no TensorRT glue

# step NAME SECONDS COMMAND...: runs under its own timeout, cut to what is left of the deadline; always goes on.
step() {
  local name="$1" limit="$2"; shift 2
  local left=$((deadline - $(date +%s))) t0 t1 rc
  if [ "$left" -lt 15 ]; then
    echo "| $name | skipped (overall deadline) | |" >>"$work/steps.md"; return 0
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  echo "===== $name (limit ${limit} s): $*" >>"$log"
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" >"$work/$name.log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  cat "$work/$name.log" >>"$log"
  local result=ok
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && result="**TIMED OUT (${limit} s)**"
  [ $rc -ne 0 ] && [ "$result" = ok ] && result="**FAILED (exit $rc)**"
  printf '| %s | %s | %.1f s |\n' "$name" "$result" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >>"$work/steps.md"
  if [ $rc -ne 0 ]; then { echo "### $name"; echo '```'; tail -15 "$work/$name.log"; echo '```'; } >>"$work/failures.md"; fi
  return 0
}

if [ -n "$root" ]; then
  step build 300 bash -c "cd '$root' && { mvn -B -o -q -Pgpu -DskipTests install || mvn -B -q -Pgpu -DskipTests install; }"
fi
step version 60 "$tina" --version

# 1. parity on the CPU (the build itself works here), then on each GPU path (--recompute none: the layer-by-layer pass is CPU-only)
step parity-cpu 120 "$tina" parity --model "$fixture/model" --adapter "$fixture/adapter" --case "$fixture/case.safetensors" \
  --device cpu --grpo --recompute none
step parity-cuda 180 "$tina" parity --model "$fixture/model" --adapter "$fixture/adapter" --case "$fixture/case.safetensors" \
  --device cuda --grpo --recompute none
[ -n "$tensorrt" ] && step parity-tensorrt 240 "$tina" parity --model "$fixture/model" --adapter "$fixture/adapter" \
  --case "$fixture/case.safetensors" --device tensorrt
# 2. the gated GPU tests (they run, not skip, here); a checkout only
[ -n "$root" ] && step gpu-tests 300 bash -c "cd '$root' && mvn -B -o -Pgpu -Dtest='TensorRtGpuTest,CudaGpuTest' -Dsurefire.failIfNoSpecifiedTests=false test"

# 3. throughput on the 1.5B shape (random weights)
devices="cuda${tensorrt:+ tensorrt}"
if [ -z "${SKIP_1B5:-}" ]; then
  m="$work/r1-1.5b"
  configs="${root:+$root/onnx-models/configs}"; configs="${configs:-$TINA_HOME/configs}"   # a distribution has them in configs/
  step init-1.5b 120 "$tina" init-model --config "$configs/deepseek-r1-distill-qwen-1.5b.json" --random --out "$m" --dtype bf16 --shards 2
  step export-1.5b 180 "$tina" export --model "$m" --out "$m-onnx"
  for dev in $devices; do
    step "bench-generate-$dev" 240 "$tina" bench generate --model "$m-onnx" --device "$dev" --batches 1,16,64 --new-tokens "$new_tokens" \
      --repeats 1 --prompt-ids 151646,100,200,300,400,500,600,700 --out "$out/bench-generate-$dev.json"
  done
  step bench-train-cuda 240 "$tina" bench train --model "$m-onnx" --device cuda --batch 8 --seq 256 --steps 3 --recompute none
fi

{
  echo "## Steps"; echo; echo "| step | result | wall |"; echo "|---|---|---|"; cat "$work/steps.md"; echo
  echo "## Parity"; echo; for dev in cpu $devices; do echo "**$dev**"; echo '```'; grep -E "max_abs_err|err/max|rel_err" "$work/parity-$dev.log" 2>/dev/null | head -40; echo '```'; done
  echo "## Throughput (random 1.5B shape, $new_tokens new tokens per sequence)"; echo
  echo "| device | batch | tokens/s | × batch 1 |"; echo "|---|---|---|---|"
  for dev in $devices; do
    f="$out/bench-generate-$dev.json"
    [ -f "$f" ] && command -v python3 >/dev/null && python3 -c "
import json
for r in json.load(open('$f')):
    if 'batch' in r and 'peer' not in r: print('| $dev | %d | %.1f | %.2f |' % (r['batch'], r['tokens_per_second'], r.get('ratio_vs_batch1') or float('nan')))
" 2>/dev/null
  done
  echo; echo "Training step (cuda):"; echo '```'; grep -E "median step|per micro-batch" "$work/bench-train-cuda.log" 2>/dev/null; echo '```'
  [ -n "$tensorrt" ] && { echo "TensorRT copies:"; echo '```'; grep -h "TensorRT copies" "$work"/bench-generate-tensorrt.log 2>/dev/null; echo '```'; }
  [ -s "$work/failures.md" ] && { echo "## Failures"; cat "$work/failures.md"; }
  echo; echo "Total $(( $(date +%s) - start )) s."
} >>"$report"
rm -rf "$work"
echo "report: $report"
