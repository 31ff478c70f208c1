#!/usr/bin/env bash
# Checks, on a machine without CUDA, that a CUDA provider library still loads: dlopen with its relocations, symbol
# versions and static constructors (which register the fat binaries). The NVIDIA libraries it needs are stood in for by
# stubs built here with gcc: every function it imports from them, in the right version node, returning 0. So this
# proves the ELF file is intact (after fatbin pruning and strip), not that its GPU code runs: that needs a GPU.
# Usage: tools/cuda-load-check.sh LIBONNXRUNTIME_PROVIDERS_CUDA.so     (needs gcc, nm, python3)
set -euo pipefail
lib="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
stubs="$(mktemp -d "${TMPDIR:-/tmp}/cuda-stubs.XXXXXX")"
trap 'rm -rf "$stubs"' EXIT
for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcufft.so.12 libcudnn.so.9; do
  # __cudaRegisterFatBinary hands back a handle the other registration calls receive: a non-null one
  { echo 'static void *handle[64];'
    nm -D --undefined-only "$lib" | awk -v v="@$so" '$1 == "U" && index($2, v) { sub(/@.*/, "", $2)
      if ($2 == "__cudaRegisterFatBinary") print "void *" $2 "(void) { return handle; }"; else print "long " $2 "(void) { return 0; }" }'
  } >"$stubs/$so.c"
  printf '%s { global: *; };\n' "$so" >"$stubs/$so.map"
  gcc -shared -fPIC -o "$stubs/$so" -Wl,-soname,"$so" -Wl,--version-script="$stubs/$so.map" "$stubs/$so.c"
  echo "stub $so: $(($(grep -c . "$stubs/$so.c") - 1)) functions"
done
LD_LIBRARY_PATH="$stubs:$(dirname "$lib")" python3 -c '
import ctypes, sys
ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_LOCAL)
print("dlopen ok:", sys.argv[1])' "$lib"
