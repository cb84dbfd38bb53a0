#!/usr/bin/env python3
"""Reference transcriber for benchmarks: whisper.cpp (through pywhispercpp) on the same model,
converted by bench/ggml_convert.py, and the same files, greedy decoding (or --beam-size N),
language en, whisper.cpp's defaults otherwise (temperature fallback, best_of 5 on fallback),
writing the same JSON lines as `livecap transcribe --format json`.

    pip install pywhispercpp==1.5.1
    python3 bench/ggml_convert.py MODEL_DIR --out tiny.en-q8_0.bin --type q8_0
    python3 bench/whisper_cpp_ref.py --model tiny.en-q8_0.bin [--threads 2] [--beam-size 1] FILE.wav...

Files are 16 kHz mono 16-bit WAVs. whisper.cpp's logs and system info go to stderr; stdout holds
only the JSON lines."""
import argparse
import json
import os
import sys
import wave

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--beam-size", type=int, default=1)
p.add_argument("files", nargs="+")
a = p.parse_args()
if not os.path.isfile(a.model):  # pywhispercpp would otherwise try to download a model by name
    sys.exit(f"no such model file: {a.model}")

# Anything the C library prints goes to stderr: fd 1 now points there, JSON goes to the old fd 1.
out = os.fdopen(os.dup(1), "w")
sys.stdout.flush()
os.dup2(2, 1)

from pywhispercpp.model import Model, __version__  # noqa: E402

print(f"pywhispercpp {__version__}: {Model.system_info()}", file=sys.stderr)
opts = dict(n_threads=a.threads, language="en", print_progress=False, print_realtime=False,
            print_timestamps=False)
if a.beam_size > 1:
    opts["beam_search"] = {"beam_size": a.beam_size, "patience": -1.0}
model = Model(a.model, params_sampling_strategy=0 if a.beam_size <= 1 else 1, **opts)

for f in a.files:
    with wave.open(f, "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16000, 1, 2):
            sys.exit(f"{f}: not 16 kHz mono 16-bit")
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    segs = [{"start": s.t0 / 100, "end": s.t1 / 100, "text": s.text.strip()}  # t0/t1: 10 ms units
            for s in model.transcribe(audio)]
    segs = [s for s in segs if s["text"]]
    out.write(json.dumps({"file": f, "language": "en", "duration": len(audio) / 16000,
                          "text": " ".join(s["text"] for s in segs), "segments": segs}) + "\n")
    out.flush()
model.print_timings()  # to stderr
