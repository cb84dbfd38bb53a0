#!/usr/bin/env python3
"""Converts a Whisper model in CTranslate2 layout (the directory livecap and faster-whisper load:
model.bin, config.json, vocabulary.txt) into a whisper.cpp ggml model file, so that whisper.cpp
(bench/whisper_cpp_ref.py) runs the very same weights. Needs only numpy.

    python3 bench/ggml_convert.py MODEL_DIR --out tiny.en-f16.bin            # ftype 1 (f16)
    python3 bench/ggml_convert.py MODEL_DIR --out tiny.en-q8_0.bin --type q8_0

The output is whisper.cpp's legacy format (the one models/convert-pt-to-ggml.py writes and
whisper_model_load reads): magic, 11 int32 hparams, the n_mels x 201 slaney mel filter bank,
the BPE tokens as raw bytes (whisper.cpp adds most special tokens itself), then each tensor as
n_dims, name length, type, dims (innermost first), name, data. CTranslate2 fuses q/k/v: they are
split here, and int8 weights are dequantized first. --type q8_0 quantizes the 2-D tensors the way
whisper.cpp's `quantize` tool does (pywhispercpp does not expose it): conv weights stay f16,
biases, norms and positional embeddings f32, file ftype 2007 (GGML_QNT_VERSION 2, MOSTLY_Q8_0)."""
import argparse
import struct
import sys
from pathlib import Path

import numpy as np

F32, F16, Q8_0 = 0, 1, 8  # ggml_type ids
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bf16"}


def read_ct2(path):
    """model.bin (CTranslate2 binary version 6): version, spec name, revision, variables, aliases."""
    buf = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        (v,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v

    def string():  # u16 length including the trailing NUL, then the bytes
        nonlocal pos
        n = take("H")
        s = buf[pos:pos + n - 1].decode()
        pos += n
        return s

    version = take("I")
    if version < 5:
        sys.exit(f"unsupported model.bin version {version}")
    spec, _revision = string(), take("I")
    if spec != "WhisperSpec":
        sys.exit(f"not a Whisper model: {spec}")
    variables = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype, nbytes = CT2_DTYPES[take("B")], take("I")
        raw = buf[pos:pos + nbytes]
        pos += nbytes
        if dtype == "bf16":  # bfloat16 = the top half of a float32
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype)
        variables[name] = a.reshape(shape)
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def weight(v, name):
    """A float32 array, dequantizing int8/int16 weights (w_int = rint(w * scale), scale per row)."""
    a = v[name]
    scale = v.get(name + "_scale")
    if scale is not None and a.dtype in (np.int8, np.int16):
        scale = np.asarray(scale, np.float32)
        return a.astype(np.float32) / scale.reshape(scale.shape + (1,) * (a.ndim - scale.ndim))
    return a.astype(np.float32)


def mel_filters(sr=16000, n_fft=400, n_mels=80):
    """librosa.filters.mel(sr, n_fft, n_mels) (slaney scale and norm), as whisper's mel_filters.npz."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + np.log(f / min_log_hz) / logstep

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2)
    hz = np.where(mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    ramps = hz[:, None] - bins[None, :]
    width = np.diff(hz)
    rising, falling = -ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]
    w = np.maximum(0.0, np.minimum(rising, falling))
    w *= (2.0 / (hz[2:] - hz[:-2]))[:, None]
    return w.astype(np.float32)


def gpt2_byte_decoder():
    """Inverse of GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 bytes
    to code points 256 and up, in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    dec = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            dec[chr(256 + extra)] = b
            extra += 1
    return dec


def tensors(v):
    """(whisper.cpp name, float32 array in PyTorch layout) for every tensor whisper.cpp loads."""
    def linear(dst, src, bias=True):
        yield dst + ".weight", weight(v, src + "/weight")
        if bias:
            yield dst + ".bias", weight(v, src + "/bias")

    def norm(dst, src):
        yield dst + ".weight", weight(v, src + "/gamma")
        yield dst + ".bias", weight(v, src + "/beta")

    def split_linear(dsts, src):  # fused rows [q; k; v] or [k; v]; whisper's key has no bias
        w, b = weight(v, src + "/weight"), weight(v, src + "/bias")
        for dst, wi, bi in zip(dsts, np.split(w, len(dsts)), np.split(b, len(dsts))):
            yield dst + ".weight", wi
            if dst.endswith(".key"):
                assert not bi.any(), f"{src}: non-zero key bias"
            else:
                yield dst + ".bias", bi

    for i in (1, 2):
        yield f"encoder.conv{i}.weight", weight(v, f"encoder/conv{i}/weight")
        yield f"encoder.conv{i}.bias", weight(v, f"encoder/conv{i}/bias").reshape(-1, 1)
    yield "encoder.positional_embedding", weight(v, "encoder/position_encodings/encodings")
    yield from norm("encoder.ln_post", "encoder/layer_norm")
    yield "decoder.positional_embedding", weight(v, "decoder/position_encodings/encodings")
    yield "decoder.token_embedding.weight", weight(v, "decoder/embeddings/weight")
    yield from norm("decoder.ln", "decoder/layer_norm")
    for side in ("encoder", "decoder"):
        i = 0
        while f"{side}/layer_{i}/ffn/linear_0/weight" in v:
            s, d = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            yield from norm(d + ".attn_ln", s + "/self_attention/layer_norm")
            yield from split_linear([d + ".attn.query", d + ".attn.key", d + ".attn.value"],
                                    s + "/self_attention/linear_0")
            yield from linear(d + ".attn.out", s + "/self_attention/linear_1")
            if side == "decoder":
                yield from norm(d + ".cross_attn_ln", s + "/attention/layer_norm")
                yield from linear(d + ".cross_attn.query", s + "/attention/linear_0")
                yield from split_linear([d + ".cross_attn.key", d + ".cross_attn.value"],
                                        s + "/attention/linear_1")
                yield from linear(d + ".cross_attn.out", s + "/attention/linear_2")
            yield from norm(d + ".mlp_ln", s + "/ffn/layer_norm")
            yield from linear(d + ".mlp.0", s + "/ffn/linear_0")
            yield from linear(d + ".mlp.2", s + "/ffn/linear_1")
            i += 1


def q8_0(a):
    """ggml block_q8_0 rows: per 32 values an f16 scale d = max|x|/127, then 32 int8 round(x/d)."""
    x = a.reshape(-1, 32).astype(np.float32)
    d = np.abs(x).max(axis=1) / np.float32(127)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    q = x * inv[:, None]
    q = np.trunc(q + np.copysign(np.float32(0.5), q)).astype(np.int8)  # roundf: half away from 0
    blocks = np.empty(len(x), dtype=[("d", "<f2"), ("qs", "i1", 32)])
    blocks["d"], blocks["qs"] = d.astype(np.float16), q
    return blocks


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--type", choices=["f16", "f32", "q8_0"], default="f16")
    a = p.parse_args()
    mdir = Path(a.model_dir)

    v = read_ct2(mdir / "model.bin")
    n_vocab, n_state = v["decoder/embeddings/weight"].shape
    n_layers = {s: sum(1 for k in v if k.startswith(f"{s}/layer_") and k.endswith("/ffn/linear_0/weight"))
                for s in ("encoder", "decoder")}
    n_mels = v["encoder/conv1/weight"].shape[1]
    hparams = [n_vocab, v["encoder/position_encodings/encodings"].shape[0], n_state,
               int(v["encoder/num_heads"]), n_layers["encoder"],
               v["decoder/position_encodings/encodings"].shape[0], n_state,
               int(v["decoder/num_heads"]), n_layers["decoder"], n_mels,
               {"f32": 0, "f16": 1, "q8_0": 2 * 1000 + 7}[a.type]]

    # The first 50257 tokens, as in whisper.cpp's published models: GPT-2's 50256 BPE ranks, then
    # <|endoftext|> (English-only) or an empty token (multilingual, whose <|endoftext|> is 50257).
    # whisper.cpp names the other special tokens itself and tells the two kinds apart by n_vocab.
    vocab = (mdir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    tokens = vocab[:50257]
    assert vocab[50256] in ("<|endoftext|>", "") and n_vocab in (51864, 51865, 51866), "unknown vocabulary"
    dec = gpt2_byte_decoder()

    out = open(a.out, "wb")
    out.write(struct.pack("<I11i", 0x67676D6C, *hparams))
    filters = mel_filters(n_mels=n_mels)
    out.write(struct.pack("<ii", *filters.shape) + filters.tobytes())
    out.write(struct.pack("<i", len(tokens)))
    for t in tokens:
        raw = bytes(dec[c] for c in t)
        out.write(struct.pack("<i", len(raw)) + raw)

    n = 0
    for name, data in tensors(v):
        keep_f32 = data.ndim < 2 or name.endswith(("conv1.bias", "conv2.bias", "positional_embedding"))
        if a.type == "f32" or keep_f32:
            ttype, payload = F32, data.astype("<f4")
        elif a.type == "q8_0" and data.ndim == 2:  # conv weights (3-D) stay f16, as in quantize
            ttype, payload = Q8_0, q8_0(data)
        else:
            ttype, payload = F16, data.astype("<f2")
        enc = name.encode()
        out.write(struct.pack(f"<3i{data.ndim}i", data.ndim, len(enc), ttype, *data.shape[::-1]))
        out.write(enc + payload.tobytes())
        n += 1
    out.close()
    print(f"{a.out}: {n} tensors, n_vocab {n_vocab}, {len(tokens)} base tokens, "
          f"{n_layers['encoder']}+{n_layers['decoder']} layers, state {n_state}, {a.type}", file=sys.stderr)


if __name__ == "__main__":
    main()
