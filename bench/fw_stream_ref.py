#!/usr/bin/env python3
"""Reference streaming transcriber for benchmarks: the whisper_streaming algorithm (ÚFAL's
OnlineASRProcessor: LocalAgreement-2 over a growing buffer, trimmed at completed segments once it
passes 15 s, committed text as the prompt) on faster-whisper, with the same simulated clock as
`livecap stream --clock simulated`: an update that starts when T seconds of audio have arrived
and computes for c seconds emits at T + c, and the next one sees the audio arrived by then.
Writes `commit`, `update` and `end` events in livecap's JSON Lines format."""
import argparse
import json
import sys
import time
import wave

import numpy as np
from faster_whisper import WhisperModel

SR = 16000

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--compute-type", default="int8")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--min-chunk", type=float, default=0.5)
p.add_argument("--buffer-trim", type=float, default=15.0)
p.add_argument("wav")
a = p.parse_args()

with wave.open(a.wav) as w:
    assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
    audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
duration = len(audio) / SR
model = WhisperModel(a.model, device="cpu", compute_type=a.compute_type, cpu_threads=a.threads)


def emit(obj):
    print(json.dumps(obj))
    sys.stdout.flush()


class Hypotheses:
    """whisper_streaming's HypothesisBuffer; words are (start, end, text, shown_at)."""

    def __init__(self):
        self.committed_in_buffer = []
        self.buffer = []
        self.new = []
        self.last_committed_time = 0.0

    def insert(self, new):
        self.new = [w for w in new if w[0] > self.last_committed_time - 0.1]
        if self.new and abs(self.new[0][0] - self.last_committed_time) < 1:
            cn, nn = len(self.committed_in_buffer), len(self.new)
            for i in range(1, min(cn, nn, 5) + 1):
                c = " ".join(w[2] for w in self.committed_in_buffer[-i:])
                tail = " ".join(self.new[j][2] for j in range(i))
                if c == tail:
                    del self.new[:i]
                    break

    def flush(self):
        commit = []
        while self.new and self.buffer and self.new[0][2] == self.buffer[0][2]:
            w = self.new.pop(0)
            old = self.buffer.pop(0)
            commit.append((w[0], w[1], w[2], old[3]))
            self.last_committed_time = w[1]
        self.buffer = self.new
        self.new = []
        self.committed_in_buffer.extend(commit)
        return commit

    def pop_committed(self, t):
        while self.committed_in_buffer and self.committed_in_buffer[0][1] <= t:
            self.committed_in_buffer.pop(0)


hyp = Hypotheses()
committed = []
offset = 0.0  # buffer start, seconds
now = 0.0
seen = 0.0
updates = 0
total_compute = 0.0


def commit_event(words, at):
    if words:
        emit({"type": "commit", "text": " ".join(w[2] for w in words), "start": round(words[0][0], 3),
              "end": round(words[-1][1], 3), "emitted_at": round(at, 3),
              "words": [{"text": w[2], "start": round(w[0], 3), "end": round(w[1], 3),
                         "shown_at": round(w[3], 3)} for w in words]})


while True:
    target = seen + a.min_chunk
    now = max(now, min(target, duration))
    visible = min(now, duration)
    buf = audio[int(offset * SR):int(visible * SR)]
    prompt_words, length = [], 0
    for w in reversed([w for w in committed if w[1] <= offset]):
        length += len(w[2]) + 1
        if length > 200:
            break
        prompt_words.append(w[2])
    prompt = " ".join(reversed(prompt_words))
    t0 = time.perf_counter()
    segments, _ = model.transcribe(buf, language="en", beam_size=1, best_of=1, initial_prompt=prompt or None,
                                   word_timestamps=True, condition_on_previous_text=True, vad_filter=False)
    segments = list(segments)
    c = time.perf_counter() - t0
    now += c
    total_compute += c
    updates += 1
    words = [(offset + w.start, offset + w.end, w.word.strip(), now)
             for s in segments if s.no_speech_prob <= 0.9 for w in (s.words or [])]
    hyp.insert(words)
    new = hyp.flush()
    committed.extend(new)
    commit_event(new, now)
    emit({"type": "update", "mode": "window", "audio_start": round(offset, 3), "audio_end": round(visible, 3),
          "compute": round(c, 3), "skipped": False, "held": round(visible - offset, 3), "emitted_at": round(now, 3)})
    # Trim the buffer at a completed segment once it passes the limit.
    if visible - offset > a.buffer_trim and committed:
        ends = [offset + s.end for s in segments]
        t = committed[-1][1]
        if len(ends) > 1:
            e = ends[-2]
            while len(ends) > 2 and e > t:
                ends.pop()
                e = ends[-2]
            if e <= t:
                hyp.pop_committed(e)
                offset = e
    seen = visible
    if visible >= duration:
        break

rest = [(w[0], w[1], w[2], w[3]) for w in hyp.buffer]
commit_event(rest, now)
emit({"type": "end", "duration": round(duration, 3), "updates": updates, "compute": round(total_compute, 3),
      "words": len(committed) + len(rest), "mode": "window", "emitted_at": round(now, 3)})
