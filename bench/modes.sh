#!/usr/bin/env bash
# Every word that was said, in one run: window mode, full history, window mode switched at five
# moments, and `livecap transcribe` of the same audio, on the stepped clock (the algorithm's own
# results, the same on any machine) over the LJSpeech reading, stream-dev and the wide stream
# (bench/stream.sh's table for each); then each stream-dev and wide utterance transcribed on its
# own, and paired comparisons utterance by utterance, pooled over the streams: each mode against
# `transcribe`, and `transcribe` of the streams against the utterances one file each.
#
#   bench/modes.sh             (MODEL=base for the multilingual base model)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/fixtures/speech
CLOCK=stepped SYSTEMS="livecap-window livecap-full livecap-switching livecap-transcribe" bench/stream.sh
model=$(scripts/fetch-test-models)
lang=()
if [ "${MODEL:-tiny.en}" = base ]; then
  model=$(dirname "$model")/base-ct2
  lang=(--language en)
fi
cargo build --release --quiet --example paired
out=bench/out
m=$(basename "$model")
for set in stream-dev wide; do
  target/release/livecap transcribe --model "$model" "${lang[@]}" --format json "$shared/$set"/clips/*.wav \
    > "$out/clips-$set-$m.jsonl"
done
f() { echo "$out/stream-$1-$m-$2.jsonl"; }
lj=long-ljspeech_LJ001-0001_to_0032_concat
tsv() { case $1 in "$lj") echo "$shared/long/ljspeech_LJ001-0001_to_0032_concat.segments.tsv" ;; *) echo "$shared/${1%-stream}/stream.segments.tsv" ;; esac; }
for sys in livecap-window livecap-full livecap-switching; do
  echo
  echo "$sys (B) against livecap-transcribe of the same stream (A), utterance by utterance:"
  echo
  args=()
  for s in stream-dev-stream wide-stream "$lj"; do
    args+=("$(f "$s" livecap-transcribe)" "$(f "$s" "$sys")" "$(tsv "$s")")
  done
  target/release/examples/paired "${args[@]}"
done
echo
echo "livecap-transcribe of each stream (B) against its utterances transcribed one file each (A):"
echo
target/release/examples/paired \
  "$out/clips-stream-dev-$m.jsonl" "$(f stream-dev-stream livecap-transcribe)" "$shared/stream-dev/stream.segments.tsv" \
  "$out/clips-wide-$m.jsonl" "$(f wide-stream livecap-transcribe)" "$shared/wide/stream.segments.tsv"
