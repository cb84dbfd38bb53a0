//! The Whisper network over candle ops: encoder, and a decoder with a self-attention KV cache and
//! cross-attention keys/values computed once per audio window.

use std::collections::HashMap;

use candle_core::{DType, Device, IndexOp, Module, Tensor, D};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm, Linear};

use super::ModelError;

/// Dimensions of a Whisper model.
#[derive(Debug, Clone, PartialEq)]
pub struct Dims {
    pub n_mels: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_heads: usize,
    pub decoder_layers: usize,
    pub decoder_heads: usize,
    pub n_audio_ctx: usize,
    pub n_text_ctx: usize,
    pub n_vocab: usize,
}

/// Tensors by Hugging Face name (without the `model.` prefix), consumed while building.
pub(crate) struct Weights {
    map: HashMap<String, Tensor>,
    source: std::path::PathBuf,
}

impl Weights {
    pub(crate) fn new(map: HashMap<String, Tensor>, source: std::path::PathBuf) -> Self {
        Self { map, source }
    }
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self.map.remove(name).ok_or_else(|| ModelError::Malformed {
            path: self.source.clone(),
            reason: format!("it has no tensor {name}"),
        })?;
        if t.dims() != shape {
            return Err(ModelError::Malformed {
                path: self.source.clone(),
                reason: format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()),
            });
        }
        t.to_dtype(DType::F32).map_err(|e| self.err(e))
    }
    fn peek_dims(&self, name: &str) -> Option<Vec<usize>> {
        self.map.get(name).map(|t| t.dims().to_vec())
    }
    fn err(&self, e: candle_core::Error) -> ModelError {
        ModelError::Malformed {
            path: self.source.clone(),
            reason: e.to_string(),
        }
    }
    fn linear(&mut self, name: &str, i: usize, o: usize, bias: bool) -> Result<Linear, ModelError> {
        let w = self.get(&format!("{name}.weight"), &[o, i])?;
        let b = if bias {
            Some(self.get(&format!("{name}.bias"), &[o])?)
        } else {
            None
        };
        Ok(Linear::new(w, b))
    }
    fn layer_norm(&mut self, name: &str, d: usize) -> Result<LayerNorm, ModelError> {
        let w = self.get(&format!("{name}.weight"), &[d])?;
        let b = self.get(&format!("{name}.bias"), &[d])?;
        Ok(LayerNorm::new(w, b, 1e-5))
    }

    /// Infer the layer counts and sizes from tensor shapes; head counts come from the caller.
    pub(crate) fn infer_dims(&self, encoder_heads: usize, decoder_heads: usize) -> Result<Dims, ModelError> {
        let need = |n: &str| {
            self.peek_dims(n).ok_or_else(|| ModelError::Malformed {
                path: self.source.clone(),
                reason: format!("it has no tensor {n}"),
            })
        };
        let conv1 = need("encoder.conv1.weight")?;
        let enc_pos = need("encoder.embed_positions.weight")?;
        let dec_pos = need("decoder.embed_positions.weight")?;
        let emb = need("decoder.embed_tokens.weight")?;
        let count = |side: &str| {
            (0..)
                .take_while(|i| self.map.contains_key(&format!("{side}.layers.{i}.fc1.weight")))
                .count()
        };
        Ok(Dims {
            n_mels: conv1.get(1).copied().unwrap_or(0),
            d_model: conv1[0],
            encoder_layers: count("encoder"),
            encoder_heads,
            decoder_layers: count("decoder"),
            decoder_heads,
            n_audio_ctx: enc_pos[0],
            n_text_ctx: dec_pos[0],
            n_vocab: emb[0],
        })
    }
}

fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
    // q: (b, h, tq, hd), k/v: (b, h, tk, hd); q and k already carry the 1/sqrt(hd) scale.
    let w = q.matmul(&k.t()?)?;
    let w = match mask {
        Some(m) => w.broadcast_add(m)?,
        None => w,
    };
    let w = candle_nn::ops::softmax_last_dim(&w)?;
    w.matmul(v)
}

fn split_heads(x: &Tensor, h: usize) -> candle_core::Result<Tensor> {
    let (b, t, d) = x.dims3()?;
    x.reshape((b, t, h, d / h))?.transpose(1, 2)?.contiguous()
}

fn merge_heads(x: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, t, hd) = x.dims4()?;
    x.transpose(1, 2)?.reshape((b, t, h * hd))
}

struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    scale: f64,
}

impl SelfAttention {
    fn load(w: &mut Weights, name: &str, d: usize, heads: usize) -> Result<Self, ModelError> {
        Ok(Self {
            q: w.linear(&format!("{name}.q_proj"), d, d, true)?,
            k: w.linear(&format!("{name}.k_proj"), d, d, false)?,
            v: w.linear(&format!("{name}.v_proj"), d, d, true)?,
            out: w.linear(&format!("{name}.out_proj"), d, d, true)?,
            heads,
            scale: ((d / heads) as f64).powf(-0.25),
        })
    }

    fn qkv(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let q = split_heads(&(self.q.forward(x)? * self.scale)?, self.heads)?;
        let k = split_heads(&(self.k.forward(x)? * self.scale)?, self.heads)?;
        let v = split_heads(&self.v.forward(x)?, self.heads)?;
        Ok((q, k, v))
    }
}

struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn load(w: &mut Weights, name: &str, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            fc1: w.linear(&format!("{name}.fc1"), d, 4 * d, true)?,
            fc2: w.linear(&format!("{name}.fc2"), 4 * d, d, true)?,
        })
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.gelu_erf()?)
    }
}

struct EncoderLayer {
    attn_ln: LayerNorm,
    attn: SelfAttention,
    mlp_ln: LayerNorm,
    mlp: Mlp,
}

struct DecoderLayer {
    attn_ln: LayerNorm,
    attn: SelfAttention,
    cross_ln: LayerNorm,
    cross_q: Linear,
    cross_k: Linear,
    cross_v: Linear,
    cross_out: Linear,
    mlp_ln: LayerNorm,
    mlp: Mlp,
}

/// A loaded Whisper model (weights in f32 on the CPU).
pub struct Whisper {
    pub dims: Dims,
    conv1: Conv1d,
    conv2: Conv1d,
    enc_pos: Tensor,
    enc_layers: Vec<EncoderLayer>,
    enc_ln: LayerNorm,
    embed: Tensor,
    dec_pos: Tensor,
    dec_layers: Vec<DecoderLayer>,
    dec_ln: LayerNorm,
}

/// Per-window decoder state: cross-attention keys/values for the encoded audio, and the
/// self-attention cache of the tokens decoded so far.
pub struct DecoderState {
    cross: Vec<(Tensor, Tensor)>,
    cache: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl DecoderState {
    /// Number of tokens already in the self-attention cache.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget cached tokens after the first `n` (for restarting a decode on the same audio).
    pub fn truncate(&mut self, n: usize) -> candle_core::Result<()> {
        if n >= self.len {
            return Ok(());
        }
        for c in self.cache.iter_mut() {
            *c = match c.take() {
                Some((k, v)) if n > 0 => Some((k.narrow(2, 0, n)?, v.narrow(2, 0, n)?)),
                _ => None,
            };
        }
        self.len = n;
        Ok(())
    }
}

impl Whisper {
    pub(crate) fn load(mut w: Weights, dims: Dims) -> Result<Self, ModelError> {
        let d = dims.d_model;
        if dims.encoder_layers == 0 || dims.decoder_layers == 0 || dims.encoder_heads == 0 || d % dims.encoder_heads != 0 || d % dims.decoder_heads.max(1) != 0 {
            return Err(ModelError::Malformed {
                path: w.source.clone(),
                reason: format!("its dimensions do not describe a Whisper model: {dims:?}"),
            });
        }
        let conv = |w: &mut Weights, name: &str, cin: usize, stride: usize| -> Result<Conv1d, ModelError> {
            let weight = w.get(&format!("encoder.{name}.weight"), &[d, cin, 3])?;
            let bias = w.get(&format!("encoder.{name}.bias"), &[d])?;
            Ok(Conv1d::new(
                weight,
                Some(bias),
                Conv1dConfig {
                    padding: 1,
                    stride,
                    dilation: 1,
                    groups: 1,
                    cudnn_fwd_algo: None,
                },
            ))
        };
        let conv1 = conv(&mut w, "conv1", dims.n_mels, 1)?;
        let conv2 = conv(&mut w, "conv2", d, 2)?;
        let enc_pos = w.get("encoder.embed_positions.weight", &[dims.n_audio_ctx, d])?;
        let mut enc_layers = Vec::new();
        for i in 0..dims.encoder_layers {
            let p = format!("encoder.layers.{i}");
            enc_layers.push(EncoderLayer {
                attn_ln: w.layer_norm(&format!("{p}.self_attn_layer_norm"), d)?,
                attn: SelfAttention::load(&mut w, &format!("{p}.self_attn"), d, dims.encoder_heads)?,
                mlp_ln: w.layer_norm(&format!("{p}.final_layer_norm"), d)?,
                mlp: Mlp::load(&mut w, &p, d)?,
            });
        }
        let enc_ln = w.layer_norm("encoder.layer_norm", d)?;
        let embed = w.get("decoder.embed_tokens.weight", &[dims.n_vocab, d])?;
        let dec_pos = w.get("decoder.embed_positions.weight", &[dims.n_text_ctx, d])?;
        let mut dec_layers = Vec::new();
        for i in 0..dims.decoder_layers {
            let p = format!("decoder.layers.{i}");
            dec_layers.push(DecoderLayer {
                attn_ln: w.layer_norm(&format!("{p}.self_attn_layer_norm"), d)?,
                attn: SelfAttention::load(&mut w, &format!("{p}.self_attn"), d, dims.decoder_heads)?,
                cross_ln: w.layer_norm(&format!("{p}.encoder_attn_layer_norm"), d)?,
                cross_q: w.linear(&format!("{p}.encoder_attn.q_proj"), d, d, true)?,
                cross_k: w.linear(&format!("{p}.encoder_attn.k_proj"), d, d, false)?,
                cross_v: w.linear(&format!("{p}.encoder_attn.v_proj"), d, d, true)?,
                cross_out: w.linear(&format!("{p}.encoder_attn.out_proj"), d, d, true)?,
                mlp_ln: w.layer_norm(&format!("{p}.final_layer_norm"), d)?,
                mlp: Mlp::load(&mut w, &p, d)?,
            });
        }
        let dec_ln = w.layer_norm("decoder.layer_norm", d)?;
        Ok(Self {
            dims,
            conv1,
            conv2,
            enc_pos,
            enc_layers,
            enc_ln,
            embed,
            dec_pos,
            dec_layers,
            dec_ln,
        })
    }

    /// Encode a log-mel window of shape (n_mels, 2 * n_audio_ctx) into audio features.
    pub fn encode(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        let x = mel.unsqueeze(0)?;
        let x = self.conv1.forward(&x)?.gelu_erf()?;
        let x = self.conv2.forward(&x)?.gelu_erf()?;
        let x = x.transpose(1, 2)?;
        let n = x.dim(1)?.min(self.dims.n_audio_ctx);
        let mut x = x.narrow(1, 0, n)?.broadcast_add(&self.enc_pos.narrow(0, 0, n)?)?;
        for l in &self.enc_layers {
            let h = l.attn_ln.forward(&x)?;
            let (q, k, v) = l.attn.qkv(&h)?;
            let a = merge_heads(&attention(&q, &k, &v, None)?)?;
            x = (x + l.attn.out.forward(&a)?)?;
            x = (&x + l.mlp.forward(&l.mlp_ln.forward(&x)?)?)?;
        }
        self.enc_ln.forward(&x)
    }

    /// Prepare decoding against encoded audio.
    pub fn start(&self, audio: &Tensor) -> candle_core::Result<DecoderState> {
        let mut cross = Vec::with_capacity(self.dec_layers.len());
        for l in &self.dec_layers {
            let scale = l.attn.scale;
            let k = split_heads(&(l.cross_k.forward(audio)? * scale)?, l.attn.heads)?;
            let v = split_heads(&l.cross_v.forward(audio)?, l.attn.heads)?;
            cross.push((k, v));
        }
        Ok(DecoderState {
            cross,
            cache: vec![None; self.dec_layers.len()],
            len: 0,
        })
    }

    /// Run `tokens` through the decoder after the cached ones; returns hidden states (1, n, d).
    pub fn decode(&self, state: &mut DecoderState, tokens: &[u32]) -> candle_core::Result<Tensor> {
        let n = tokens.len();
        let offset = state.len;
        if offset + n > self.dims.n_text_ctx {
            candle_core::bail!(
                "decoder context is {} tokens, asked for {}",
                self.dims.n_text_ctx,
                offset + n
            );
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self
            .embed
            .index_select(&ids, 0)?
            .add(&self.dec_pos.narrow(0, offset, n)?)?
            .unsqueeze(0)?;
        let mask = if n > 1 {
            let m: Vec<f32> = (0..n)
                .flat_map(|i| (0..offset + n).map(move |j| if j > offset + i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(m, (n, offset + n), &Device::Cpu)?)
        } else {
            None
        };
        for (li, l) in self.dec_layers.iter().enumerate() {
            let h = l.attn_ln.forward(&x)?;
            let (q, k, v) = l.attn.qkv(&h)?;
            let (k, v) = match state.cache[li].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            let a = merge_heads(&attention(&q, &k, &v, mask.as_ref())?)?;
            state.cache[li] = Some((k, v));
            x = (x + l.attn.out.forward(&a)?)?;
            let h = l.cross_ln.forward(&x)?;
            let q = split_heads(&(l.cross_q.forward(&h)? * l.attn.scale)?, l.attn.heads)?;
            let (ck, cv) = &state.cross[li];
            let a = merge_heads(&attention(&q, ck, cv, None)?)?;
            x = (x + l.cross_out.forward(&a)?)?;
            x = (&x + l.mlp.forward(&l.mlp_ln.forward(&x)?)?)?;
        }
        state.len += n;
        self.dec_ln.forward(&x)
    }

    /// Vocabulary logits for position `pos` of decoder hidden states (1, n, d).
    pub fn logits(&self, hidden: &Tensor, pos: usize) -> candle_core::Result<Vec<f32>> {
        let h = hidden.i((0, pos))?.unsqueeze(0)?;
        h.matmul(&self.embed.t()?)?.squeeze(0)?.to_vec1::<f32>()
    }

    /// Convenience for tests: last-position logits.
    pub fn last_logits(&self, hidden: &Tensor) -> candle_core::Result<Vec<f32>> {
        let n = hidden.dim(D::Minus2)?;
        self.logits(hidden, n - 1)
    }
}
