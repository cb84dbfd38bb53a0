//! The Whisper network on the CPU: `Whisper` builds it from a model's tensors (`weights`) and
//! runs it, the audio encoder (`encoder`) once a window and the text decoder (`decoder`) a token
//! or a prompt at a time; every projection is one `Linear` (`linear`) at the compute type asked
//! for, over the kernels of `asr::kernels`.

mod decoder;
mod encoder;
mod linear;
mod norm;
mod weights;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use candle_core::Tensor;

use super::{ComputeType, ModelError};
use decoder::{Capture, Decoder};
use encoder::Encoder;

pub use decoder::DecoderState;
pub use weights::Dims;
pub(crate) use weights::Weights;

/// A loaded Whisper model, on the CPU: linear layers at the compute type asked for (int8, float16
/// or float32; at float16 the encoder's stay in float32) and the token embedding with the
/// decoder's; norms, positions and convolutions in f32.
pub struct Whisper {
    pub dims: Dims,
    encoder: Encoder,
    decoder: Decoder,
    work: Work,
}

/// What a model has computed so far, counted rather than timed (the same on any machine):
/// encoder passes over a window, and tokens run through the decoder (prompts, sampled tokens
/// and alignment passes alike).
#[derive(Debug, Default)]
struct Work {
    encoded: AtomicU64,
    decoded: AtomicU64,
}

/// A count of [`Whisper`]'s work: encoder passes and decoded tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkDone {
    pub encoder_passes: u64,
    pub decoder_tokens: u64,
}

impl std::ops::Sub for WorkDone {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            encoder_passes: self.encoder_passes.saturating_sub(o.encoder_passes),
            decoder_tokens: self.decoder_tokens.saturating_sub(o.decoder_tokens),
        }
    }
}

impl Whisper {
    pub(crate) fn load(mut w: Weights, dims: Dims) -> Result<Self, ModelError> {
        let d = dims.d_model;
        if dims.encoder_layers == 0
            || dims.decoder_layers == 0
            || dims.encoder_heads == 0
            || dims.decoder_heads == 0
            || !d.is_multiple_of(dims.encoder_heads)
            || !d.is_multiple_of(dims.decoder_heads)
        {
            return Err(w.malformed(format!(
                "its dimensions do not describe a Whisper model: {dims:?}"
            )));
        }
        let encoder = Encoder::load(&mut w, &dims)?;
        let decoder = Decoder::load(&mut w, &dims)?;
        Ok(Self {
            dims,
            encoder,
            decoder,
            work: Work::default(),
        })
    }

    /// The work done so far (from every thread that used this model).
    pub fn work(&self) -> WorkDone {
        WorkDone {
            encoder_passes: self.work.encoded.load(Relaxed),
            decoder_tokens: self.work.decoded.load(Relaxed),
        }
    }

    /// Compute in `compute` from now on: int8 runs the encoder's projections (attention and
    /// MLP, where nearly all its arithmetic is), the decoder's layers and the vocabulary
    /// projection on 8-bit weights (as stored, where the file holds them so); float16 and
    /// float32 scale 8-bit weights back, and float32 widens the decoder's half-precision ones.
    pub fn set_compute(&mut self, compute: ComputeType) {
        self.encoder.convert(compute);
        self.decoder.convert(compute);
    }

    /// Encode a log-mel window of shape (n_mels, 2 * n_audio_ctx) into audio features (1, t, d).
    pub fn encode(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        self.work.encoded.fetch_add(1, Relaxed);
        self.encoder.forward(mel)
    }

    /// Prepare decoding against encoded audio (1, t, d).
    pub fn start(&self, audio: &Tensor) -> candle_core::Result<DecoderState> {
        self.decoder.start(audio)
    }

    /// Run `tokens` through the decoder after the cached ones; returns the final hidden state of
    /// each new token (n × d, layer-normed), ready for [`Whisper::logits`].
    pub fn decode(&self, state: &mut DecoderState, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        self.decode_inner(state, tokens, None)
    }

    /// The cross-attention scores (before the softmax; n × t for each of `heads`, given as
    /// (layer, head)) of `tokens` run after the cached ones: what word alignment reads. The pass
    /// stops at the last layer it needs, and leaves the state as it was.
    pub fn attention_scores(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        heads: &[(usize, usize)],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut scores = vec![Vec::new(); heads.len()];
        if !heads.is_empty() {
            self.decode_inner(state, tokens, Some((heads, &mut scores)))?;
        }
        Ok(scores)
    }

    /// Audio positions the decoder attends over in this state.
    pub fn audio_positions(state: &DecoderState) -> usize {
        state.n_audio
    }

    fn decode_inner(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        capture: Option<Capture<'_>>,
    ) -> Result<Vec<f32>, ModelError> {
        self.work.decoded.fetch_add(tokens.len() as u64, Relaxed);
        self.decoder.forward(state, tokens, capture)
    }

    /// One token for each of several states of the same length (a beam search's beams),
    /// decoded together; each row's hidden state is what [`Whisper::decode`] gives it alone.
    pub fn decode_each(
        &self,
        states: &mut [&mut DecoderState],
        tokens: &[u32],
    ) -> Result<Vec<f32>, ModelError> {
        self.work.decoded.fetch_add(tokens.len() as u64, Relaxed);
        self.decoder.forward_each(states, tokens)
    }

    /// Vocabulary logits of every row from [`Whisper::decode_each`], one vector a row.
    pub fn logits_each(&self, hidden: &[f32]) -> Vec<Vec<f32>> {
        let all = self.decoder.logits_each(hidden);
        let rows = hidden.len() / self.decoder.width().max(1);
        let n = all.len() / rows.max(1);
        all.chunks_exact(n.max(1)).map(<[f32]>::to_vec).collect()
    }

    /// Vocabulary logits for row `pos` of hidden states returned by [`Whisper::decode`].
    pub fn logits(&self, hidden: &[f32], pos: usize) -> Vec<f32> {
        self.decoder.logits(hidden, pos)
    }
}

/// `x += y`, element by element (a residual connection, or a bias on one row).
fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
