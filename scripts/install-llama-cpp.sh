#!/usr/bin/env bash
# Build (once) and install llama-cpp-python with explicit CPU flags.
#
# PyPI ships only the sdist. Its default build uses -march=native, which on AMX-advertising
# VMs compiles a backend that crashes at the first matmul (docs/models.md §3), so we always
# pass CMAKE_ARGS. pip's own wheel cache is keyed by the sdist, not by CMAKE_ARGS, and would
# happily hand back a wheel built natively earlier: we therefore build with --no-cache-dir into
# our own cache folder whose name is derived from the version and the flags, and install from it.
set -euo pipefail
PY="${PYTHON:-python3}"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
# The CPU flags are spelled out from what this CPU reports (x86-64 Linux), never -march=native
# and never AMX; LEAN_COMPANION_LLAMA_CMAKE_ARGS overrides everything.
cpu_flags() {
  local args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
  if [[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 && -r /proc/cpuinfo ]]; then
    local have; have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    local flag option
    for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C avx512f:AVX512 avx512_vnni:AVX512_VNNI avx_vnni:AVX_VNNI; do
      flag=${pair%%:*}; option=${pair##*:}
      if [[ "$have" == *" $flag "* ]]; then args+=" -DGGML_$option=ON"; else args+=" -DGGML_$option=OFF"; fi
    done
  elif [[ "$(uname -m)" == arm64 || "$(uname -m)" == aarch64 ]]; then
    args="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"  # native is safe on ARM
  fi
  echo "$args"
}
export CMAKE_ARGS="${LEAN_COMPANION_LLAMA_CMAKE_ARGS:-$(cpu_flags)}"
KEY="$(printf '%s|%s' "$VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lean-companion/wheels/llama-cpp-python-$VERSION-$KEY"
if ! ls "$CACHE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  mkdir -p "$CACHE.tmp"
  echo "building llama-cpp-python $VERSION (CMAKE_ARGS=$CMAKE_ARGS); this takes 3-6 minutes" >&2
  "$PY" -m pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$VERSION" -w "$CACHE.tmp" > "$CACHE.build.log" 2>&1 \
      || { tail -50 "$CACHE.build.log" >&2; exit 1; }
  rm -rf "$CACHE"; mv "$CACHE.tmp" "$CACHE"
fi
"$PY" -m pip install --quiet --no-deps --force-reinstall "$CACHE"/llama_cpp_python-*.whl 2>&1 | grep -v "^WARNING: Location" || true
"$PY" -m pip install --quiet numpy diskcache jinja2 typing-extensions 2>&1 | grep -v "^WARNING: Location" || true
"$PY" -c "import llama_cpp" || { echo "llama-cpp-python $VERSION did not install from $CACHE" >&2; exit 1; }
echo "llama-cpp-python $VERSION installed from $CACHE" >&2
