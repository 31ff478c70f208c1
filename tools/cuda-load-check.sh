#!/usr/bin/env bash
# Checks, on a machine without CUDA, that a CUDA distribution's provider library still loads: ONNX Runtime registers
# lib/native/libonnxruntime_providers_cuda.so as an execution-provider library (dlopen with its relocations, symbol
# versions and static constructors, which register the fat binaries; then its factory), as tina does on a GPU. The NVIDIA
# libraries it needs are stood in for by stubs built here with gcc: every function it imports from them, in the right
# version node, returning 0. So this proves the ELF file is intact after fatbin pruning and strip, not that its GPU code
# runs: that needs a GPU. (The provider cannot be dlopen'ed on its own: its constructors need ONNX Runtime's host.)
# Usage: tools/cuda-load-check.sh DIST_DIR      (an unpacked tina-…-cuda distribution; needs gcc, nm and a JDK 25)
set -euo pipefail
dist="$(cd "$1" && pwd)"
lib="$dist/lib/native/libonnxruntime_providers_cuda.so"
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
[ -f "$lib" ] || { echo "cuda-load-check: $lib: no such file (not a CUDA distribution?)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/cuda-load-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stubs"
for so in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcufft.so.12 libcudnn.so.9; do
  # __cudaRegisterFatBinary hands back a handle the other registration calls receive: a non-null one
  { echo 'static void *handle[64];'
    nm -D --undefined-only "$lib" | awk -v v="@$so" '$1 == "U" && index($2, v) { sub(/@.*/, "", $2)
      if ($2 == "__cudaRegisterFatBinary") print "void *" $2 "(void) { return handle; }"; else print "long " $2 "(void) { return 0; }" }'
  } >"$work/$so.c"
  printf '%s { global: *; };\n' "$so" >"$work/$so.map"
  gcc -shared -fPIC -o "$work/stubs/$so" -Wl,-soname,"$so" -Wl,--version-script="$work/$so.map" "$work/$so.c"
  echo "stub $so: $(($(grep -c . "$work/$so.c") - 1)) functions"
done
cat >"$work/RegisterCuda.java" <<'EOF'
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtEpDevice;

public class RegisterCuda {
    public static void main(String[] args) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try {
            env.registerExecutionProviderLibrary("CUDA", args[0]);
            System.out.println("registered: " + args[0]);
            for (OrtEpDevice d : env.getEpDevices()) System.out.println("  device: " + d.getEpName() + " on " + d.getDevice().getType());
        } catch (Exception e) {
            System.out.println("not registered: " + e.getMessage());
        }
    }
}
EOF
run() { "$java" --enable-native-access=ALL-UNNAMED -cp "$dist/lib/*" -Donnxruntime.native.path="$dist/lib/native" "$work/RegisterCuda.java" "$lib" 2>&1; }
echo "without the NVIDIA libraries:"; run
echo "with stub NVIDIA libraries:"; LD_LIBRARY_PATH="$work/stubs" run
