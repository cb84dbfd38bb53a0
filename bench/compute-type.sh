#!/usr/bin/env bash
# The default compute type (int8) against float16, utterance by utterance: every stream-dev and
# wide recording transcribed on its own at each compute type, and window mode over both streams
# (stepped clock); pooled errors, how many utterances got better and how many worse, and a sign
# test, per set and per tag (the wide manifest's tags; bench/stream-dev.tags.tsv gives
# stream-dev's: read, nonnative, accent, command, and spontaneous for its unscripted
# monologues, whispering, falsetto and laughter).
#
#   bench/compute-type.sh      (MODEL=base for the multilingual base model)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/fixtures/speech
model=$(scripts/fetch-test-models)
lang=()
if [ "${MODEL:-tiny.en}" = base ]; then
  model=$(dirname "$model")/base-ct2
  lang=(--language en)
fi
cargo build --release --quiet --bin livecap --example paired
out=bench/out
mkdir -p "$out"
m=$(basename "$model")
simd=AVX2; grep -q avx512_vnni /proc/cpuinfo && simd="AVX-512 VNNI"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p') ($simd); $(date -u +%F); model: $m"
for ct in int8 float16; do
  for set in stream-dev wide; do
    target/release/livecap transcribe --model "$model" "${lang[@]}" --compute-type "$ct" --format json \
      "$shared/$set"/clips/*.wav > "$out/ct-clips-$set-$m-$ct.jsonl"
    target/release/livecap stream --no-save --model "$model" "${lang[@]}" --compute-type "$ct" \
      --input "$shared/$set/stream.wav" --clock stepped --format jsonl > "$out/ct-window-$set-$m-$ct.jsonl"
  done
done
tags=(--tags bench/stream-dev.tags.tsv --tags "$shared/wide/manifest.tsv")
for kind in clips window; do
  echo
  echo "$kind: int8 (A) against float16 (B)"
  echo
  target/release/examples/paired "${tags[@]}" \
    "$out/ct-$kind-stream-dev-$m-int8.jsonl" "$out/ct-$kind-stream-dev-$m-float16.jsonl" "$shared/stream-dev/stream.segments.tsv" \
    "$out/ct-$kind-wide-$m-int8.jsonl" "$out/ct-$kind-wide-$m-float16.jsonl" "$shared/wide/stream.segments.tsv"
done
