#!/usr/bin/env bash
# Wall time, peak memory and word error rate of `livecap transcribe` against faster-whisper
# (CTranslate2 int8 and float32, greedy, 2 threads) on the same model and files, in one run.
#
#   bench/transcribe.sh            # dev set and long recording
# Results: bench/out/*.jsonl and a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch-test-models)
python3 -c 'import faster_whisper' 2>/dev/null || python3 -m pip install --quiet faster-whisper==1.2.1
cargo build --release --quiet --bin livecap --example score
out=bench/out
mkdir -p "$out"
dev=(tests/fixtures/dev/*.wav)
long=(tests/fixtures/long/*.wav)
secs() { python3 -c "import sys,wave; print(round(sum(wave.open(f).getnframes()/wave.open(f).getframerate() for f in sys.argv[1:]),1))" "$@"; }

run() { # name set cmd...
  local name=$1 set=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$out/$name-$set.time" "$@" > "$out/$name-$set.jsonl" 2> "$out/$name-$set.err" || {
    echo "$name on $set failed:"; cat "$out/$name-$set.err"; exit 1; }
  read -r wall rss < "$out/$name-$set.time"
  wer=$(target/release/examples/score "$out/$name-$set.jsonl" | tail -n 1 | awk '{print $2}')
  printf '| %-28s | %-5s | %7s s | %6.3f | %6d MB | %6s |\n' "$name" "$set" "$wall" \
    "$(echo "$wall / $audio" | bc -l)" "$((rss / 1024))" "$wer"
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F)"
echo
echo "| system                       | set   | wall      | × real time | peak RSS | WER    |"
echo "|------------------------------|-------|-----------|--------|----------|--------|"
for set in dev long; do
  if [ $set = dev ]; then files=("${dev[@]}"); else files=("${long[@]}"); fi
  audio=$(secs "${files[@]}")
  run livecap "$set" target/release/livecap transcribe --model "$model" --format json "${files[@]}"
  run faster-whisper-int8 "$set" python3 bench/faster_whisper_ref.py --model "$model" --compute-type int8 "${files[@]}"
  run faster-whisper-float32 "$set" python3 bench/faster_whisper_ref.py --model "$model" --compute-type float32 "${files[@]}"
done
echo
echo "audio: dev $(secs "${dev[@]}") s in ${#dev[@]} files, long $(secs "${long[@]}") s"
