#!/usr/bin/env bash
# Streaming on the simulated clock over the 233 s recording: livecap's window and full-history
# modes against the whisper_streaming algorithm on faster-whisper (int8, greedy, 2 threads), same
# model, same audio, same clock semantics, in one run. Reports WER, commit and first-display
# latency per sentence (median, 90th percentile), and compute per update as the session grows.
#
#   bench/stream.sh            (WAV=other.wav TSV=other.segments.tsv to use another recording)
# Results: bench/out/stream-*.jsonl and a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch-test-models)
python3 -c 'import faster_whisper' 2>/dev/null || python3 -m pip install --quiet faster-whisper==1.2.1
cargo build --release --quiet --bin livecap --example stream_report
out=bench/out
mkdir -p "$out"
wav=${WAV:-tests/fixtures/long/ljspeech_LJ001-0001_to_0032_concat.wav}
tsv=${TSV:-${wav%.wav}.segments.tsv}
systems=(livecap-window livecap-full whisper_streaming-fw-int8)

run() {
  case $1 in
    livecap-window) target/release/livecap stream --model "$model" --input "$wav" --clock simulated --mode window --format jsonl ;;
    livecap-full) target/release/livecap stream --model "$model" --input "$wav" --clock simulated --mode full --format jsonl ;;
    whisper_streaming-fw-int8) python3 bench/fw_stream_ref.py --model "$model" "$wav" ;;
  esac
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F); $(basename "$wav")"
echo
echo "| system | WER | sentences committed | commit latency median / p90 | first shown median / p90 | compute per update, by quarter of the session (median) | audio per update, by quarter | peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
for sys in "${systems[@]}"; do
  /usr/bin/time -f "%e %M" -o "$out/stream-$sys.time" bash -c "$(declare -f run); model='$model' wav='$wav' run $sys" \
    > "$out/stream-$sys.jsonl" 2> "$out/stream-$sys.err" || { echo "$sys failed:"; cat "$out/stream-$sys.err"; exit 1; }
  target/release/examples/stream_report "$out/stream-$sys.jsonl" "$tsv" > "$out/stream-$sys.report"
  get() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$out/stream-$sys.report"; }
  quarters() { awk -F'\t' -v c="$1" '/^update_compute_q/ {printf "%s%s", sep, $c; sep=" → "}' "$out/stream-$sys.report"; }
  echo "| $sys | $(get wer_percent) % | $(get sentences_committed) | $(get commit_latency_median_s) / $(get commit_latency_p90_s) s | $(get display_latency_median_s) / $(get display_latency_p90_s) s | $(quarters 2) s | $(quarters 4) s | $(awk '{printf "%d MB", $2/1024}' "$out/stream-$sys.time") |"
done
