#!/usr/bin/env python3
"""Reference transcriber for benchmarks: faster-whisper on the same model directory and files,
greedy decoding (or --beam-size N), writing the same JSON lines as `livecap transcribe --format json`."""
import argparse
import json
import sys

from faster_whisper import WhisperModel

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--compute-type", default="int8")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--beam-size", type=int, default=1)
p.add_argument("files", nargs="+")
a = p.parse_args()

model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type, cpu_threads=a.threads)
for f in a.files:
    segments, info = model.transcribe(f, beam_size=a.beam_size, best_of=1, language="en", vad_filter=False)
    segs = [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text.strip()} for s in segments]
    print(json.dumps({"file": f, "language": info.language, "duration": info.duration,
                      "text": " ".join(s["text"] for s in segs), "segments": segs}))
    sys.stdout.flush()
