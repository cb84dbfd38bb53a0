#!/usr/bin/env bash
# What beam search costs against greedy decoding, in livecap and in faster-whisper (int8, 2
# threads, best_of=1), on the same model and files, in one run: each system REPS times
# (default 3), interleaved; the median wall time, and the beam's cost as a multiple of greedy.
# OLD=path/to/livecap adds another livecap build's beam search (its output must be the same).
#
#   bench/beams.sh                    (BEAM=5 by default; SETS="dev long")
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-3}
beam=${BEAM:-5}
model=$(scripts/fetch-test-models)
python3 -c 'import faster_whisper' 2>/dev/null || python3 -m pip install --quiet faster-whisper==1.2.1
cargo build --release --quiet --bin livecap --example score
out=bench/out
mkdir -p "$out"
dev=(../shared/fixtures/speech/dev/*.wav)
long=(../shared/fixtures/speech/long/*.wav)
read -r -a sets <<< "${SETS:-dev long}"
systems=(livecap-1 "livecap-$beam" faster-whisper-1 "faster-whisper-$beam")
[ -n "${OLD:-}" ] && systems+=("old-livecap-$beam")

command_for() { # system files...
  local sys=$1; shift
  local n=${sys##*-}
  case $sys in
    livecap-*) echo target/release/livecap transcribe --model "$model" --beam-size "$n" --format json "$@" ;;
    old-livecap-*) echo "$OLD" transcribe --model "$model" --beam-size "$n" --format json "$@" ;;
    faster-whisper-*) echo python3 bench/faster_whisper_ref.py --model "$model" --beam-size "$n" --compute-type int8 "$@" ;;
  esac
}

simd=AVX2; grep -q avx512_vnni /proc/cpuinfo && simd="AVX-512 VNNI"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p') ($simd); $(date -u +%F); model: $(basename "$model"); median of $reps runs"
echo
echo "| system                 | set  | beams | wall (median) | runs                 | × its greedy | WER    |"
echo "|------------------------|------|-------|---------------|----------------------|--------------|--------|"
for set in "${sets[@]}"; do
  case $set in
    dev) files=("${dev[@]}") ;;
    long) files=("${long[@]}") ;;
    *) echo "beams.sh: unknown set $set" >&2; exit 2 ;;
  esac
  for sys in "${systems[@]}"; do : > "$out/beams-$sys-$set.walls"; done
  for _ in $(seq "$reps"); do
    for sys in "${systems[@]}"; do
      s=$(date +%s.%N)
      # shellcheck disable=SC2046
      $(command_for "$sys" "${files[@]}") > "$out/beams-$sys-$set.jsonl" 2> "$out/beams-$sys-$set.err" \
        || { echo "$sys on $set failed:"; cat "$out/beams-$sys-$set.err"; exit 1; }
      echo "$(date +%s.%N) - $s" | bc >> "$out/beams-$sys-$set.walls"
    done
  done
  median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  for sys in "${systems[@]}"; do
    m=$(median "$out/beams-$sys-$set.walls")
    base=${sys#old-}; base=${base%-*}
    g=$(median "$out/beams-$base-1-$set.walls")
    walls=$(sort -n "$out/beams-$sys-$set.walls" | xargs printf '%.2f ')
    wer=$(target/release/examples/score "$out/beams-$sys-$set.jsonl" | tail -n 1 | awk '{print $2}')
    printf '| %-22s | %-4s | %5s | %11.2f s | %-20s | %11.2f× | %6s |\n' "$sys" "$set" "${sys##*-}" "$m" "$walls" \
      "$(echo "$m / $g" | bc -l)" "$wer"
  done
done
