#!/usr/bin/env bash
# The CUDA distribution's checks on a machine without a GPU (docs/distribution.md, "What was checked here"):
# builds the CUDA check bundle (sm_90, slim) unless given one, unpacks it into an empty folder and, under an empty
# environment (env -i: no JAVA_HOME, no java on PATH, no Maven):
#   1. bin/tina --version;
#   2. bin/tina parity on ../shared/fixtures/qwen2-small with --grpo, on the CPU provider of the CUDA build: every comparison OK;
#   3. bin/tina parity … --device cuda: exit status 2, its error one line naming what is missing (no stack trace);
#   4. bin/tina grade: refused in one line (the slim profile has no CAS);
#   5. tools/cuda-load-check.sh: ONNX Runtime registers the pruned provider against stub NVIDIA libraries;
#   6. tools/gpu-check.sh from the bundle's archives (a stand-in nvidia-smi on PATH): runs to its end and writes its
#      table, parity on the CPU passing and the CUDA steps failing with the one-line error.
# Prints one line per check and exits 1 if any failed. Needs a JDK 25, gcc and nm (check 5), and Maven Central once
# for bytedeco's CUDA jar (129 MB) when building.
# Usage: tools/dist-check-cuda.sh [BUNDLE_DIR]   (a folder holding tina-…-linux-x86_64-cuda-slim.tar.xz; default: build
#        one into target/dist-check-cuda with --xz-preset 0, which changes the archive's size, not its contents)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixture="$root/../shared/fixtures/qwen2-small"
work="$(mktemp -d "${TMPDIR:-/tmp}/tina-dist-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failed=0
check() { # check NAME OK(0/1) DETAIL
  if [ "$2" = 0 ]; then echo "ok    $1"; else echo "FAIL  $1: $3"; failed=1; fi
}

bundle="${1:-}"
if [ -z "$bundle" ]; then
  bundle="$root/target/dist-check-cuda"
  rm -rf "$bundle"
  "$root/tina" dist --out "$bundle" --cuda --cuda-arch sm_90 --slim --xz-preset 0 || { echo "FAIL  building the bundle"; exit 1; }
fi
archive="$(ls "$bundle"/tina-*-linux-x86_64-cuda-slim.tar.xz 2>/dev/null | head -1)"
[ -n "$archive" ] || { echo "dist-check-cuda: no tina-*-linux-x86_64-cuda-slim.tar.xz in $bundle" >&2; exit 2; }
mkdir -p "$work/unpacked" "$work/cache"
tar -xJf "$archive" -C "$work/unpacked"
home="$(ls -d "$work"/unpacked/tina-* | head -1)"
tina() { env -i TINA_CACHE="$work/cache" "$home/bin/tina" "$@"; }

out="$(tina --version 2>&1)"; rc=$?
check "version under env -i" $([ $rc = 0 ] && grep -q '^tina ' <<<"$out"; echo $?) "$out"

case_args=(--model "$fixture/model" --adapter "$fixture/adapter" --case "$fixture/case.safetensors" --grpo)
out="$(tina parity "${case_args[@]}" 2>&1)"; rc=$?
n_ok=$(grep -c ' OK (tolerance' <<<"$out")
check "parity --grpo on the CPU provider of the CUDA build ($n_ok comparisons OK)" \
  $([ $rc = 0 ] && [ "$n_ok" -ge 30 ] && ! grep -q FAIL <<<"$out"; echo $?) "exit $rc: $(tail -3 <<<"$out")"

out="$(tina parity "${case_args[@]}" --device cuda 2>&1)"; rc=$?
last="$(grep -v '^WARNING: Using incubator' <<<"$out" | tail -1)"
check "parity --device cuda refused in one line: $last" \
  $([ $rc = 2 ] && [[ "$last" == "tina parity: error: --device cuda cannot start:"* ]] && ! grep -qE '^\s+at |Exception' <<<"$out"; echo $?) "exit $rc: $out"

out="$(tina grade --input "$root/../shared/fixtures/grading/math_verify_cases.jsonl" 2>&1)"; rc=$?
last="$(grep -v '^WARNING: Using incubator' <<<"$out" | tail -1)"
check "grade refused by the slim profile: $last" $([ $rc = 2 ] && [[ "$last" == "tina grade: error:"*CAS* ]]; echo $?) "exit $rc: $out"

out="$("$root/tools/cuda-load-check.sh" "$home" 2>&1)"; rc=$?
check "the pruned provider registers against stub NVIDIA libraries" $([ $rc = 0 ] && grep -q '^registered: ' <<<"$out"; echo $?) "exit $rc: $(tail -5 <<<"$out")"

# gpu-check.sh as the GPU machine runs it: the bundle's archives and the fixture's, a stand-in nvidia-smi
mkdir -p "$work/bundle" "$work/bin" "$work/gpu-out"
cp "$archive" "$work/bundle/"
tar -cJf "$work/bundle/fixture-qwen2-small.tar.xz" -C "$(dirname "$fixture")" qwen2-small
cat >"$work/bin/nvidia-smi" <<'EOF'
#!/bin/sh
# stand-in: a GPU is listed, none is there (the CUDA steps must fail with tina's one-line error)
case "$*" in *-L*) echo "GPU 0: stand-in (UUID: GPU-00000000)" ;; *) echo "0.0" ;; esac
EOF
chmod +x "$work/bin/nvidia-smi"
PATH="$work/bin:$PATH" TINA_BUNDLE="$work/bundle" SKIP_1B5=1 DEADLINE=400 "$root/tools/gpu-check.sh" "$work/gpu-out" >"$work/gpu-check.out" 2>&1; rc=$?
report="$work/gpu-out/gpu-check.md"
check "gpu-check.sh ran to its end from the bundle (exit $rc; parity-cpu ok, parity-cuda failed as expected)" \
  $([ -f "$report" ] && grep -q '^| parity-cpu | ok |' "$report" && grep -q '^| parity-cuda | \*\*FAILED (exit 2)' "$report" \
    && grep -q 'cannot start' "$work/gpu-out/gpu-check.log"; echo $?) "$(cat "$report" 2>/dev/null | head -30)"
exit $failed
