#!/usr/bin/env bash
# Wall time, peak memory and word error rate of `livecap transcribe` against faster-whisper
# (CTranslate2 int8 and float32, 2 threads) and whisper.cpp (its PyPI build through pywhispercpp,
# f16 and q8_0, 2 threads; the same weights converted by bench/ggml_convert.py) on the same model
# and files, in one run, greedy or with the beam search of BEAM beams (default 1) in every system.
# Each system runs REPS times (default 3), interleaved, and the median wall time is reported.
# livecap runs twice: at int8 (its default) and at float16. MODEL=base measures the
# multilingual base model (with English as the language) instead of tiny.en.
# Three sets: `dev` (27 short clips), `long` (one 233 s recording) and, where ../shared is
# present, `clips` (the 59 stream-dev recordings: many speakers and conditions, 1 to 20 s each);
# the last lines pool every system's errors over all sets (SETS="dev long" for fewer).
#
#   bench/transcribe.sh          (BEAM=5 bench/transcribe.sh for beam search)
# Results: bench/out/*.jsonl and a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-3}
beam=${BEAM:-1}
model=$(scripts/fetch-test-models)
lang=()
if [ "${MODEL:-tiny.en}" = base ]; then
  model=$(dirname "$model")/base-ct2
  lang=(--language en)
fi
python3 -c 'import faster_whisper' 2>/dev/null || python3 -m pip install --quiet faster-whisper==1.2.1
python3 -c 'import pywhispercpp' 2>/dev/null || python3 -m pip install --quiet pywhispercpp==1.5.1
ggml=$(dirname "$model")/ggml
mkdir -p "$ggml"
for t in f16 q8_0; do
  g=$ggml/$(basename "$model")-$t.bin
  [ -s "$g" ] || python3 bench/ggml_convert.py "$model" --out "$g" --type "$t" >&2
done
cargo build --release --quiet --bin livecap --example score
out=bench/out
mkdir -p "$out"
dev=(../shared/fixtures/speech/dev/*.wav)
long=(../shared/fixtures/speech/long/*.wav)
clips=(../shared/fixtures/speech/stream-dev/clips/*.wav)
read -r -a sets <<< "${SETS:-dev long clips}"
if [ ! -e "${clips[0]}" ]; then sets=("${sets[@]/clips}"); fi
secs() { python3 -c "import sys,wave; print(round(sum(wave.open(f).getnframes()/wave.open(f).getframerate() for f in sys.argv[1:]),1))" "$@"; }
read -r -a systems <<< "${SYSTEMS:-livecap-int8 livecap-float16 faster-whisper-int8 faster-whisper-float32 whisper.cpp-f16 whisper.cpp-q8_0}"

command_for() { # system files...
  local sys=$1; shift
  case $sys in
    livecap-int8) echo target/release/livecap transcribe --model "$model" "${lang[@]}" --compute-type int8 --beam-size "$beam" --format json "$@" ;;
    livecap-float16) echo target/release/livecap transcribe --model "$model" "${lang[@]}" --compute-type float16 --beam-size "$beam" --format json "$@" ;;
    faster-whisper-int8) echo python3 bench/faster_whisper_ref.py --model "$model" --beam-size "$beam" --compute-type int8 "$@" ;;
    faster-whisper-float32) echo python3 bench/faster_whisper_ref.py --model "$model" --beam-size "$beam" --compute-type float32 "$@" ;;
    whisper.cpp-f16|whisper.cpp-q8_0) echo python3 bench/whisper_cpp_ref.py --model "$ggml/$(basename "$model")-${sys#whisper.cpp-}.bin" --beam-size "$beam" "$@" ;;
  esac
}

simd=AVX2; grep -q avx512_vnni /proc/cpuinfo && simd="AVX-512 VNNI"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p') ($simd); $(date -u +%F); model: $(basename "$model"); median of $reps runs; beams: $beam"
echo
echo "| system                 | set  | wall (median) | runs            | × real time | peak RSS | WER    |"
echo "|------------------------|------|---------------|-----------------|-------------|----------|--------|"
for set in ${sets[@]}; do
  case $set in
    dev) files=("${dev[@]}") ;;
    long) files=("${long[@]}") ;;
    clips) files=("${clips[@]}") ;;
    *) echo "transcribe.sh: unknown set $set" >&2; exit 2 ;;
  esac
  audio=$(secs "${files[@]}")
  for sys in "${systems[@]}"; do : > "$out/$sys-$set.walls"; done
  for _ in $(seq "$reps"); do
    for sys in "${systems[@]}"; do
      # shellcheck disable=SC2046
      /usr/bin/time -f "%e %M" -o "$out/$sys-$set.time" $(command_for "$sys" "${files[@]}") \
        > "$out/$sys-$set.jsonl" 2> "$out/$sys-$set.err" || { echo "$sys on $set failed:"; cat "$out/$sys-$set.err"; exit 1; }
      cat "$out/$sys-$set.time" >> "$out/$sys-$set.walls"
    done
  done
  for sys in "${systems[@]}"; do
    walls=$(awk '{print $1}' "$out/$sys-$set.walls" | sort -n | tr '\n' ' ')
    median=$(awk '{print $1}' "$out/$sys-$set.walls" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    rss=$(awk '{print $2}' "$out/$sys-$set.walls" | sort -n | tail -n 1)
    wer=$(target/release/examples/score "$out/$sys-$set.jsonl" | tail -n 1 | awk '{print $2}')
    printf '| %-22s | %-4s | %11s s | %-15s | %11.3f | %5d MB | %6s |\n' "$sys" "$set" "$median" "$walls" \
      "$(echo "$median / $audio" | bc -l)" "$((rss / 1024))" "$wer"
  done
done
echo
echo "audio: dev $(secs "${dev[@]}") s in ${#dev[@]} files, long $(secs "${long[@]}") s$([ -e "${clips[0]}" ] && echo ", clips $(secs "${clips[@]}") s in ${#clips[@]} files")"
echo
echo "all sets pooled (${sets[*]}):"
for sys in "${systems[@]}"; do
  jsonl=()
  for set in ${sets[@]}; do jsonl+=("$out/$sys-$set.jsonl"); done
  echo "  $sys: $(target/release/examples/score "${jsonl[@]}" | tail -n 1)"
done
echo
echo "model load (median of 3, in one process each):"
cargo build --release --quiet --example load_time
target/release/examples/load_time "$model" int8 float16 | sed 's/^/  livecap-/; s/\t/: /; s/$/ s/'
for c in int8 float32; do
  python3 - "$model" "$c" <<'PY'
import statistics, sys, time
from faster_whisper import WhisperModel
walls = []
for _ in range(3):
    t = time.perf_counter()
    WhisperModel(sys.argv[1], device="cpu", compute_type=sys.argv[2], cpu_threads=2)
    walls.append(time.perf_counter() - t)
print(f"  faster-whisper-{sys.argv[2]}: {statistics.median(walls):.3f} s")
PY
done
for t in f16 q8_0; do
  python3 - "$ggml/$(basename "$model")-$t.bin" "$t" <<'PY' 2>/dev/null
import os, statistics, sys, time
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # whisper.cpp's load log
from pywhispercpp.model import Model
walls = []
for _ in range(3):
    t = time.perf_counter()
    Model(sys.argv[1], n_threads=2)
    walls.append(time.perf_counter() - t)
print(f"  whisper.cpp-{sys.argv[2]}: {statistics.median(walls):.3f} s")
PY
done
