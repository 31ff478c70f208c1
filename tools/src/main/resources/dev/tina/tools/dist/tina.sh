#!/bin/sh
# tina from this distribution: its own Java runtime, jars and native libraries (JAVA_HOME and PATH are not read).
# Only shell built-ins until the exec, so it runs under an empty environment too.
case "$0" in */*) bin="${0%/*}" ;; *) bin=. ;; esac
here="$(cd "$bin/.." && pwd -P)" || exit 1
native="$here/lib/native"
if [ -f "$native/libonnxruntime_providers_cuda.so" ]; then
  # The CUDA provider's RUNPATH lacks its own folder, and it needs CUDA 13, cuBLAS, cuFFT and cuDNN 9 from the
  # machine: a system install (the loader's cache), LD_LIBRARY_PATH, or pip's nvidia-* wheels (found below).
  # A library still missing is named in one line by tina before anything loads it.
  extra="$native"
  wheels=
  if command -v python3 >/dev/null 2>&1; then
    wheels="$(python3 -c 'import nvidia, glob, os; print(" ".join(d for r in nvidia.__path__ for d in sorted(glob.glob(os.path.join(r, "*", "lib")))))' 2>/dev/null)"
  fi
  for d in $wheels "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib \
           /usr/local/lib/python3*/site-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib "${HOME:-/nonexistent}"/.local/lib/python3*/site-packages/nvidia/*/lib; do
    [ -d "$d" ] || continue
    case ":$extra:" in *":$d:"*) ;; *) extra="$extra:$d" ;; esac
  done
  LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$extra"
  export LD_LIBRARY_PATH
fi
RUST_LIBRARY_PATH="$native/libtokenizers.so"   # DJL takes the library file itself
export RUST_LIBRARY_PATH
# ONNX Runtime's weights and buffers on transparent huge pages where the kernel gives them only on request
# (THP "madvise", Debian's default): fewer TLB misses while decoding streams every weight once per token
# (+2-4% at batch 1, docs/quantization.md). glibc's malloc asks for them with this tunable (glibc >= 2.35;
# older ones ignore it); a GLIBC_TUNABLES of the caller's own is left as it is.
if [ -z "${GLIBC_TUNABLES+x}" ]; then GLIBC_TUNABLES=glibc.malloc.hugetlb=1; export GLIBC_TUNABLES; fi
# Under an unset, C or POSIX locale (env -i, many containers) the JVM prints '?' for every non-ASCII character;
# write UTF-8 there, as most current tools do. A named locale keeps the JVM's own choice.
encoding=
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
  ""|C|POSIX) encoding="-Dstdout.encoding=UTF-8 -Dstderr.encoding=UTF-8" ;;
esac
exec "$here/runtime/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-modules jdk.incubator.vector -Djava.awt.headless=true -Donnxruntime.native.path="$native" $encoding ${TINA_JAVA_OPTS:-} \
  -cp "$here/lib/*" dev.tina.tools.TinaCommand "$@"
