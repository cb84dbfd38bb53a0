#!/usr/bin/env bash
# Streaming on the simulated clock: livecap's window and full-history modes against the
# whisper_streaming algorithm on faster-whisper (int8, greedy, 2 threads), same model, same
# audio, same clock semantics, in one run; and `livecap transcribe` of the same audio (full
# context). Three streams from ../shared/fixtures/speech: the 233 s LJSpeech recording (one
# reader, short pauses), the 422 s stream-dev recording (59 speakers and conditions, with
# pauses) and the 755 s wide stream (205 utterances of 151 speakers). Reports WER, sentences
# committed (aligned with the reference) and captioned (committed words at their time),
# sentence onsets recognised, commit and first-display latency per sentence (median, 90th
# percentile), repeated 4-grams, words committed in pauses, and each update's compute as the
# session grows: seconds, audio heard, and encoder passes / decoder tokens (counted, the same
# on any machine), the median in each quarter of the session.
#
#   bench/stream.sh            (STREAMS="a.wav b.wav" to use other recordings, each with a
#                               .segments.tsv beside it; SYSTEMS from livecap-window,
#                               livecap-window-float16, livecap-full, livecap-switching (window,
#                               switched at 9.7, 26.3, 47.9, 68.2 and 119.1 s),
#                               whisper_streaming-fw-int8, livecap-transcribe;
#                               CLOCK=stepped for results that do not depend on the machine;
#                               MODEL=base for the multilingual base model, with English as
#                               the language)
# Results: bench/out/stream-*.{jsonl,report} and a table on stdout (copy it into BENCHMARKS.md);
# LIVECAP_REPORT_SENTENCES=1 adds each sentence's errors to the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch-test-models)
lang=()
if [ "${MODEL:-tiny.en}" = base ]; then
  model=$(dirname "$model")/base-ct2
  lang=(--language en)
fi
python3 -c 'import faster_whisper' 2>/dev/null || python3 -m pip install --quiet faster-whisper==1.2.1
cargo build --release --quiet --bin livecap --example stream_report
out=bench/out
mkdir -p "$out"
shared=../shared/fixtures/speech
streams=${STREAMS:-"$shared/long/ljspeech_LJ001-0001_to_0032_concat.wav $shared/stream-dev/stream.wav $shared/wide/stream.wav"}
read -r -a systems <<< "${SYSTEMS:-livecap-window livecap-full whisper_streaming-fw-int8 livecap-transcribe}"
clock=${CLOCK:-simulated}

run() {
  case $1 in
    livecap-window) target/release/livecap stream --no-save --model "$model" $lang --compute-type int8 --input "$wav" --clock "$clock" --mode window --format jsonl ;;
    livecap-window-float16) target/release/livecap stream --no-save --model "$model" $lang --compute-type float16 --input "$wav" --clock "$clock" --mode window --format jsonl ;;
    livecap-full) target/release/livecap stream --no-save --model "$model" $lang --input "$wav" --clock "$clock" --mode full --format jsonl ;;
    livecap-switching) target/release/livecap stream --no-save --model "$model" $lang --input "$wav" --clock "$clock" --mode window --switch-mode-at 9.7,26.3,47.9,68.2,119.1 --format jsonl ;;
    whisper_streaming-fw-int8) python3 bench/fw_stream_ref.py --model "$model" "$wav" ;;
    livecap-transcribe) target/release/livecap transcribe --model "$model" $lang "$wav" ;;
  esac
}

simd=AVX2; grep -q avx512_vnni /proc/cpuinfo && simd="AVX-512 VNNI"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p') ($simd); $(date -u +%F); clock: $clock; model: $(basename "$model")"
for wav in $streams; do
  tsv=${wav%.wav}.segments.tsv
  name=$(basename "$(dirname "$wav")")-$(basename "${wav%.wav}")
  echo
  echo "$name ($(basename "$tsv"))"
  echo
  echo "| system | WER | sentences committed | captioned | onsets recognised | commit latency median / p90 | first shown median / p90 | repeated 4-grams | words in pauses | compute per update (median) | compute per update, by quarter of the session (median) | audio per update, by quarter | encoder passes / decoder tokens per update, by quarter | peak RSS |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for sys in "${systems[@]}"; do
    base="$out/stream-$name-$(basename "$model")-$sys"
    /usr/bin/time -f "%e %M" -o "$base.time" bash -c "$(declare -f run); model='$model' lang='${lang[*]}' wav='$wav' clock='$clock' run $sys" \
      > "$base.jsonl" 2> "$base.err" || { echo "$sys failed:"; cat "$base.err"; exit 1; }
    target/release/examples/stream_report "$base.jsonl" "$tsv" > "$base.report"
    get() { awk -F'\t' -v k="$1" '$1==k {print $2}' "$base.report"; }
    quarters() { awk -F'\t' -v c="$1" '/^update_compute_q/ {printf "%s%s", sep, $c; sep=" → "}' "$base.report"; }
    work() { awk -F'\t' '/^update_compute_q/ {printf "%s%s / %s", sep, $6, $8; sep=" → "}' "$base.report"; }
    if [ "$sys" = livecap-transcribe ]; then
      echo "| $sys (full context) | $(get wer_percent) % | – | – | $(get onsets_recognised) | – | – | $(get extra_repeated_4grams) | – | – | whole file: $(awk '{print $1}' "$base.time") s | – | – | $(awk '{printf "%d MB", $2/1024}' "$base.time") |"
    else
      echo "| $sys | $(get wer_percent) % | $(get sentences_committed) | $(get sentences_covered) | $(get onsets_recognised) | $(get commit_latency_median_s) / $(get commit_latency_p90_s) s | $(get display_latency_median_s) / $(get display_latency_p90_s) s | $(get extra_repeated_4grams) | $(get words_in_pauses) | $(get update_compute_median_s) s | $(quarters 2) s | $(quarters 4) s | $(work) | $(awk '{printf "%d MB", $2/1024}' "$base.time") |"
    fi
  done
done
