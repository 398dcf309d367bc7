# shellcheck shell=bash
# Sourced by the benchmarks: cpu_line prints the CPU's name, family, model and the
# vector flags that pick abridge's kernels, for every figure a benchmark prints.
cpu_line() {
  local info=/proc/cpuinfo
  echo "CPU: $(grep -m1 'model name' $info | cut -d: -f2- | xargs), family $(grep -m1 'cpu family' $info | cut -d: -f2 | xargs) model $(grep -m1 '^model' $info | cut -d: -f2 | xargs), flags: $(grep -m1 flags $info | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512_vnni|amx_int8)$' | xargs), $(nproc) cores"
}
