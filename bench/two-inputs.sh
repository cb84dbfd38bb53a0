#!/usr/bin/env bash
# Two inputs captioned apart (`--input A+B`) against one, on the realtime clock (files played
# at the pace they were spoken, as a call's two sides arrive): CPU seconds per second of audio
# (user + system, /usr/bin/time), and each input's update cost (median and 90th percentile of
# the `compute` of updates that ran the model) and the step the cadence settled at. Three
# cases over the same 27.6 s: one input (a reader), two inputs both speaking (the reader and
# another stretch of the same reading), two inputs with one speaking (the reader and silence).
#
#   bench/two-inputs.sh
# Results: bench/out/two-*.jsonl and a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch-test-models)
cargo build --release --quiet
bin=target/release/livecap
out=bench/out
mkdir -p "$out"
long=../shared/fixtures/speech/long/ljspeech_LJ001-0001_to_0032_concat.wav
ffmpeg -loglevel error -y -i "$long" -t 27.6 -ar 16000 -ac 1 "$out/two-a.wav"
ffmpeg -loglevel error -y -ss 27.7 -i "$long" -t 27.6 -ar 16000 -ac 1 "$out/two-b.wav"
ffmpeg -loglevel error -y -f lavfi -i anullsrc=r=16000:cl=mono -t 27.6 "$out/two-silence.wav"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(grep -o -w -m1 'avx512_vnni' /proc/cpuinfo || echo 'no AVX-512 VNNI')"
echo
echo "| case | CPU s per audio s | input | updates | update median s | p90 s | step at the end s |"
echo "|---|---|---|---|---|---|---|"
run() {
  local name=$1 input=$2
  /usr/bin/time -f "%U %S" -o "$out/two-$name.time" \
    "$bin" stream --no-save --clock realtime --model "$model" --input "$input" --format jsonl \
    > "$out/two-$name.jsonl"
  python3 - "$name" "$out/two-$name.jsonl" "$out/two-$name.time" <<'PY'
import json, sys, statistics
name, path, tpath = sys.argv[1:4]
user, sys_ = map(float, open(tpath).read().split()[-2:])
by = {}
for line in open(path):
    e = json.loads(line)
    if e["type"] != "update":
        continue
    lane = by.setdefault(e.get("source", "-"), {"c": [], "step": 0})
    lane["step"] = e["step"]
    if not e["skipped"]:
        lane["c"].append(e["compute"])
first = True
for src, lane in sorted(by.items()):
    c = sorted(lane["c"]) or [0.0]
    p90 = c[min(len(c) - 1, int(0.9 * len(c)))]
    cpu = f"{(user + sys_) / 27.6:.2f}" if first else ""
    print(f"| {name if first else ''} | {cpu} | {src} | {len(lane['c'])} | {statistics.median(c):.3f} | {p90:.3f} | {lane['step']:.2f} |")
    first = False
PY
}
run one "$out/two-a.wav"
run both "$out/two-a.wav+$out/two-b.wav"
run one-speaking "$out/two-a.wav+$out/two-silence.wav"
