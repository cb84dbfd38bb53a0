#!/usr/bin/env bash
# Bytes written to the terminal while captions roll at a normal speaking rate: the app at 80x24
# (16 colours, as over SSH, and 24-bit colour), against `livecap stream` printing the same
# captions as plain text on the same terminal, in one run. A recording read aloud (about 2.5
# words a second) plays as the live input; `script` records every byte each program writes.
#
#   bench/tui.sh [SECONDS]      (default 60)
# Needs tmux and script (util-linux). Results: a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v tmux >/dev/null || { echo "bench/tui.sh: please install tmux" >&2; exit 1; }
model="$(scripts/fetch-test-models)"
cargo build --release --quiet
bin="$PWD/target/release/livecap"
wav="$PWD/../shared/fixtures/speech/long/ljspeech_LJ001-0001_to_0032_concat.wav"
tmp=$(mktemp -d)
trap 'tmux -S "$tmp/sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT

# run NAME ENV COMMAND: run COMMAND in an 80x24 tmux window for $secs seconds, then stop it.
run() {
  local name=$1 env=$2 cmd=$3
  rm -rf "$tmp/data"
  tmux -S "$tmp/sock" -f /dev/null new-session -d -s "$name" -x 80 -y 24 \
    "env -u NO_COLOR -u COLORTERM $env LIVECAP_DATA_DIR=$tmp/data LIVECAP_CONFIG_DIR=$tmp/config script -q -f -c '$cmd' $tmp/$name.out; touch $tmp/$name.done; sleep 30"
  sleep "$secs"
  tmux -S "$tmp/sock" send-keys -t "$name" q
  sleep 1
  # `livecap stream` ends on Ctrl-C (it is not reading keys).
  [ -e "$tmp/$name.done" ] || tmux -S "$tmp/sock" send-keys -t "$name" C-c
  for _ in $(seq 300); do [ -e "$tmp/$name.done" ] && break; sleep 0.1; done
  tmux -S "$tmp/sock" kill-session -t "$name" 2>/dev/null || true
  # Leave out script's own header and footer lines.
  grep -av '^Script \(started\|done\)' "$tmp/$name.out" | wc -c
}

words_said() {
  cat "$tmp"/data/sessions/*/transcript.jsonl 2>/dev/null |
    python3 -c 'import json,sys; print(sum(len(json.loads(l)["text"].split()) for l in sys.stdin if l.strip()))'
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F); ${secs} s of a recording read aloud, played as live; 80x24 terminal (tmux)"
echo
echo "| program | bytes written | bytes/s | words captioned | bytes per word |"
echo "|---|---|---|---|---|"
row() {
  local label=$1 bytes=$2 words=$3
  awk -v l="$label" -v b="$bytes" -v s="$secs" -v w="$words" \
    'BEGIN { printf "| %s | %d | %.0f | %s | %s |\n", l, b, b/s, (w==""?"–":w), (w==""||w==0?"–":sprintf("%.0f", b/w)) }'
}
b=$(run app16 "TERM=screen" "$bin --input $wav --model $model")
row "livecap app, 16 colours (TERM=screen, no COLORTERM)" "$b" "$(words_said)"
b=$(run app24 "COLORTERM=truecolor" "$bin --input $wav --model $model")
row "livecap app, 24-bit colour (COLORTERM=truecolor)" "$b" "$(words_said)"
b=$(run stream "" "$bin stream --clock realtime --input $wav --model $model")
row "livecap stream, text on the terminal (reference)" "$b" ""

# Key response while the engine is busy: the app in full-history mode, where each update
# re-transcribes everything heard so far (seconds of work once the session is long), `?`
# pressed 20 times; the time from tmux sending the key to the help being on the screen (tmux's
# own round trips included).
rm -rf "$tmp/data"
tmux -S "$tmp/sock" -f /dev/null new-session -d -s keys -x 80 -y 24 \
  "env LIVECAP_DATA_DIR=$tmp/data LIVECAP_CONFIG_DIR=$tmp/config $bin --mode full --input $wav --model $model"
sleep "$secs"
python3 - "$tmp/sock" <<'PY'
import subprocess, sys, time, statistics
sock = sys.argv[1]
def tmux(*a):
    return subprocess.run(["tmux", "-S", sock, *a], capture_output=True, text=True).stdout
def wait(pred):
    t0 = time.perf_counter()
    while not pred(tmux("capture-pane", "-p", "-t", "keys")):
        if time.perf_counter() - t0 > 5:
            return None
    return time.perf_counter() - t0
header = tmux("capture-pane", "-p", "-t", "keys").splitlines()[0]
times = []
for _ in range(20):
    t0 = time.perf_counter()
    tmux("send-keys", "-t", "keys", "?")
    if wait(lambda s: "pause/resume" in s) is None:
        print("the help did not appear"); sys.exit(1)
    times.append(time.perf_counter() - t0)
    tmux("send-keys", "-t", "keys", "Escape")
    wait(lambda s: "pause/resume" not in s)
    time.sleep(0.37)
times.sort()
print()
print(f"Key response in full-history mode once the session has run a while (header then: `{header.strip()}`):")
print()
print("| key | presses | median | 90th percentile | worst |")
print("|---|---|---|---|---|")
print(f"| `?` (help appears) | {len(times)} | {statistics.median(times)*1000:.0f} ms | {times[int(len(times)*0.9)-1]*1000:.0f} ms | {times[-1]*1000:.0f} ms |")
PY
tmux -S "$tmp/sock" send-keys -t keys q
sleep 2
