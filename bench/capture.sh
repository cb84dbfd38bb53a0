#!/usr/bin/env bash
# What capture alone costs, against arecord capturing the same device for the same time, in one
# run: a test microphone on a private PulseAudio server (null sink, played a recording through
# ALSA's file plugin, paced in real time), captured through ALSA's pulse plugin.
#
#   bench/capture.sh [SECONDS]      (default 60)
# Needs pulseaudio, pulseaudio-utils, libasound2-plugins and alsa-utils (installed when root).
# Results: a table on stdout (copy it into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
need=()
command -v pulseaudio >/dev/null || need+=(pulseaudio)
command -v pactl >/dev/null || need+=(pulseaudio-utils)
command -v arecord >/dev/null || need+=(alsa-utils)
compgen -G '/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so' >/dev/null || need+=(libasound2-plugins)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench/capture.sh: please install ${need[*]}" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --example capture_cost

tmp=$(mktemp -d)
pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no --log-level=error \
  -L "module-native-protocol-unix socket=$tmp/native auth-anonymous=1" \
  >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do pactl --server="unix:$tmp/native" info >/dev/null 2>&1 && break; sleep 0.1; done
pactl --server="unix:$tmp/native" load-module module-null-sink sink_name=benchmic format=s16le rate=16000 channels=1 >/dev/null
ffmpeg -hide_banner -loglevel error -y -stream_loop -1 -i ../shared/fixtures/speech/long/ljspeech_LJ001-0001_to_0032_concat.wav \
  -t $((secs + 10)) -f s16le -ac 1 -ar 16000 "$tmp/speech.raw"
cat > "$tmp/asoundrc" <<EOF
pcm.benchmic {
    type file
    slave.pcm "benchmic_source"
    file "/dev/null"
    infile "$tmp/speech.raw"
    format "raw"
}
pcm.benchmic_source {
    type pulse
    server "unix:$tmp/native"
    device "benchmic.monitor"
}
EOF
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$tmp/asoundrc"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%F); ${secs} s of speech from a test microphone (16 kHz mono s16 through the ALSA pulse plugin)"
echo
echo "| capture | start-up: time to first audio, CPU | CPU while capturing | % of one core | audio captured | callbacks | longest callback | frames dropped |"
echo "|---|---|---|---|---|---|---|---|"
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$json" "$1"; }
# The first capture after the server starts waits for its source to wake; measured apart.
json=$(target/release/examples/capture_cost benchmic 3)
cold="$(field startup_s) s, $(field startup_cpu_s) s"
json=$(target/release/examples/capture_cost benchmic "$secs")
echo "| livecap (cpal callback → ring → level meter → audio state) | $(field startup_s) s, $(field startup_cpu_s) s (first after server start: $cold) | $(field cpu_s) s | $(field cpu_percent) % | $(field audio_s) s | $(field callbacks) | $(field worst_callback_us) µs | $(field overrun_frames) |"
/usr/bin/time -f "%U %S %e" -o "$tmp/arecord.time" \
  arecord -q -D benchmic -f S16_LE -r 16000 -c 1 -t raw -d "$secs" "$tmp/arecord.raw"
read -r user sys wall < "$tmp/arecord.time"
awk -v u="$user" -v s="$sys" -v w="$wall" -v bytes="$(stat -c %s "$tmp/arecord.raw")" \
  'BEGIN { printf "| arecord (alsa-utils), whole run | – | %.3f s | %.3f %% | %.2f s | – | – | – |\n", u+s, 100*(u+s)/w, bytes/32000 }'
