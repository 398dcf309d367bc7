# shellcheck shell=bash
# Sourced by the scripts that run llama.cpp (run from the repository root): builds
# of llama.cpp for the CPU they run on, keyed by that CPU so that a build made on
# one machine is never used on another (target/ can outlive a change of machine).
#
#   cpu_model          the CPU's model name, from /proc/cpuinfo
#   cpu_isa            its SIMD extensions that matter to llama.cpp, readable
#   cpu_key            short hash of the model name, family/model/stepping and those
#                      flags: the build key
#   cpu_has_amx        true when the CPU has AMX
#   llamacpp_venv      ensures target/llamacpp-venv-<key>, llama-cpp-python
#                      $LLAMACPP_VERSION built from source for this CPU; prints it
#   llamacpp_server    ensures target/llamacpp-<key>/bin/llama-server, built from
#                      the llama.cpp that the same sdist vendors; prints its path
#
# Builds are native (-DGGML_NATIVE=ON: -march=native). Where the CPU has AMX they
# leave it out: that build crashes. -march=native turns AMX on by itself and the
# GGML_AMX_* options only apply with GGML_NATIVE=OFF, so AMX is also switched off
# with -mno-amx-* in CFLAGS/CXXFLAGS (GCC lets those win over -march, in any order).
# Progress goes to stderr; builds run under nice. The first build of each takes
# a while on 2 cores (llama-server about 15 minutes, the venv about 10).

LLAMACPP_VERSION=0.3.36

# The /proc/cpuinfo flags that decide which kernels llama.cpp compiles, sorted.
_cpu_flags() {
  grep -m1 '^flags' "${CPUINFO:-/proc/cpuinfo}" | cut -d: -f2 | tr ' ' '\n' \
    | grep -E '^(ssse3|sse4_1|sse4_2|avx|avx2|fma|f16c|bmi2|avx_vnni|avx_vnni_int8|avx_ne_convert|avx512.*|amx.*)$' \
    | LC_ALL=C sort -u
}

cpu_model() {
  local m
  m=$(grep -m1 '^model name' "${CPUINFO:-/proc/cpuinfo}" | cut -d: -f2- | sed 's/^ *//; s/ *$//')
  echo "${m:-unknown CPU}"
}

# The model name with its family/model/stepping numbers, which tell CPUs apart
# where the name does not (some VMs report only "AMD EPYC"), for the tables.
cpu_name() {
  local f=${CPUINFO:-/proc/cpuinfo} fam mod step
  fam=$(grep -m1 '^cpu family' "$f" | cut -d: -f2 | tr -d ' ')
  mod=$(grep -m1 '^model[[:space:]]*:' "$f" | cut -d: -f2 | tr -d ' ')
  step=$(grep -m1 '^stepping' "$f" | cut -d: -f2 | tr -d ' ')
  echo "$(cpu_model)${fam:+ (family $fam model $mod stepping $step)}"
}

# e.g. "SSE4.2 AVX AVX2 FMA F16C AVX-VNNI AVX-512 (F CD BW DQ VL VNNI BF16) AMX (TILE INT8 BF16)"
cpu_isa() {
  _cpu_flags | awk '
    { have[$0] = 1 }
    function take(flag, name) { if (flag in have) { delete have[flag]; return name } return "" }
    function add(list, name) { return name == "" ? list : (list == "" ? name : list " " name) }
    END {
      n = split("sse4_2 avx avx2 fma f16c bmi2 avx_vnni avx_vnni_int8 avx_ne_convert", base, " ")
      for (i = 1; i <= n; i++) {
        name = toupper(base[i]); sub(/^SSE4_/, "SSE4.", name); gsub(/_/, "-", name)
        out = add(out, take(base[i], name))
      }
      n = split("f cd bw dq vl ifma vbmi vbmi2 vnni bf16 fp16 bitalg vpopcntdq vp2intersect", x, " ")
      for (i = 1; i <= n; i++) {
        a = add(a, take("avx512" x[i], toupper(x[i])))
        a = add(a, take("avx512_" x[i], toupper(x[i])))
      }
      n = split("tile int8 bf16 fp16 complex", y, " ")
      for (i = 1; i <= n; i++) m = add(m, take("amx_" y[i], toupper(y[i])))
      for (f in have) {   # flags not named above
        if (f ~ /^avx512/) { g = f; sub(/^avx512_?/, "", g); a = add(a, toupper(g)) }
        else if (f ~ /^amx/) { g = f; sub(/^amx_?/, "", g); m = add(m, toupper(g)) }
      }
      if (a != "") out = add(out, "AVX-512 (" a ")")
      if (m != "") out = add(out, "AMX (" m ")")
      print (out == "" ? "no SIMD extensions found" : out)
    }'
}

# (family/model/stepping included: -march=native tunes for them, and VMs that
# report only "AMD EPYC" would otherwise give Zen 1 and Zen 2 one key)
cpu_key() {
  { cpu_name; _cpu_flags; } | sha256sum | cut -c1-12
}

cpu_has_amx() {
  [[ $'\n'$(_cpu_flags) == *$'\n'amx* ]]
}

# CMake arguments for a native build of this CPU (one per line), and the flags
# that keep AMX out of -march=native.
_llamacpp_cmake_args() {
  echo "-DGGML_NATIVE=ON"
  if cpu_has_amx; then
    echo "-DGGML_AMX_TILE=OFF"
    echo "-DGGML_AMX_INT8=OFF"
    echo "-DGGML_AMX_BF16=OFF"
  fi
}
_llamacpp_cflags() {
  if cpu_has_amx; then echo "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi
}

# What a build was made for, kept beside it.
_llamacpp_stamp() {
  printf 'cpu: %s\nisa: %s\nkey: %s\nllama-cpp-python: %s\ncmake args: %s\nCFLAGS: %s\n' \
    "$(cpu_name)" "$(cpu_isa)" "$(cpu_key)" "$LLAMACPP_VERSION" \
    "$(_llamacpp_cmake_args | tr '\n' ' ')" "$(_llamacpp_cflags)"
}

# The llama-cpp-python sdist (CPU-independent), downloaded once; prints its path.
_llamacpp_sdist() {
  local dir=target/llamacpp-src
  local sdist="$dir/llama_cpp_python-$LLAMACPP_VERSION.tar.gz"
  if [ ! -s "$sdist" ]; then
    echo "llamacpp: downloading the llama-cpp-python $LLAMACPP_VERSION sdist (PyPI)" >&2
    mkdir -p "$dir"
    # --no-binary for this package only: build requirements (cmake) come as wheels
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$LLAMACPP_VERSION" -d "$dir" >&2
  fi
  echo "$sdist"
}

# The llama.cpp source vendored in the sdist, unpacked once; prints its path.
_llamacpp_source() {
  local sdist dir=target/llamacpp-src
  sdist=$(_llamacpp_sdist) || return 1
  local src="$dir/llama_cpp_python-$LLAMACPP_VERSION/vendor/llama.cpp"
  if [ ! -f "$src/CMakeLists.txt" ]; then
    tar -xzf "$sdist" -C "$dir"
  fi
  echo "$src"
}

# cmake (and ninja when there is one): the system's, else from PyPI into a venv.
# Prints the cmake command.
_llamacpp_cmake() {
  if command -v cmake >/dev/null 2>&1; then
    command -v cmake
    return
  fi
  local tools=target/llamacpp-tools
  if [ ! -x "$tools/bin/cmake" ]; then
    echo "llamacpp: installing cmake and ninja from PyPI into $tools" >&2
    python3 -m venv "$tools" >&2
    "$tools/bin/pip" install --quiet cmake ninja >&2
  fi
  echo "$PWD/$tools/bin/cmake"
}

llamacpp_venv() {
  local venv
  venv=target/llamacpp-venv-$(cpu_key)
  if "$venv/bin/python" -c "import llama_cpp, numpy; assert llama_cpp.__version__ == '$LLAMACPP_VERSION'" 2>/dev/null; then
    echo "$venv"
    return
  fi
  local sdist
  sdist=$(_llamacpp_sdist) || return 1
  echo "llamacpp: building llama-cpp-python $LLAMACPP_VERSION for $(cpu_model) ($(cpu_isa)) in $venv, once" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet numpy >&2
  local cflags
  cflags=$(_llamacpp_cflags)
  CMAKE_ARGS="$(_llamacpp_cmake_args | tr '\n' ' ')-DGGML_OPENMP=ON" \
    CFLAGS="${CFLAGS:-} $cflags" CXXFLAGS="${CXXFLAGS:-} $cflags" \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    nice "$venv/bin/pip" install --quiet --no-binary llama-cpp-python "$sdist" >&2 || {
    echo "llamacpp: the llama-cpp-python build failed" >&2
    return 1
  }
  _llamacpp_stamp >"$venv/abridge-build.txt"
  echo "$venv"
}

llamacpp_server() {
  local dir
  dir=target/llamacpp-$(cpu_key)
  local bin="$dir/bin/llama-server"
  if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
    echo "$bin"
    return
  fi
  local src cmake
  src=$(_llamacpp_source) || return 1
  cmake=$(_llamacpp_cmake) || return 1
  echo "llamacpp: building llama-server ($LLAMACPP_VERSION's llama.cpp) for $(cpu_model) ($(cpu_isa)) in $dir, once" >&2
  local gen=() ninja
  ninja=$(command -v ninja || echo "$(dirname "$cmake")/ninja")
  if [ -x "$ninja" ]; then gen=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$ninja"); fi
  local cflags args
  cflags=$(_llamacpp_cflags)
  mapfile -t args < <(_llamacpp_cmake_args)
  mkdir -p "$dir"
  CFLAGS="${CFLAGS:-} $cflags" CXXFLAGS="${CXXFLAGS:-} $cflags" \
    "$cmake" -S "$src" -B "$dir/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    "${args[@]}" -DGGML_OPENMP=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    >"$dir/configure.log" 2>&1 || {
    echo "llamacpp: cmake configure failed, see $dir/configure.log" >&2
    return 1
  }
  nice "$cmake" --build "$dir/build" --target llama-server -j "$(nproc)" >"$dir/build.log" 2>&1 || {
    echo "llamacpp: the llama-server build failed, see $dir/build.log" >&2
    return 1
  }
  mkdir -p "$dir/bin"
  cp "$dir/build/bin/llama-server" "$bin"
  _llamacpp_stamp >"$dir/abridge-build.txt"
  echo "$bin"
}
