//! A model's tensors by Hugging Face name, its dimensions (`Dims`), and the layers built from
//! them: each tensor checked against the shape the network expects, float weights in the
//! precision their layer keeps, and 8-bit ones (a CTranslate2 int8 file) kept so where their
//! layer computes in 8 bits.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use half::f16;

use super::linear::{Conv3, Linear, Precision};
use super::norm::LayerNorm;
use crate::asr::{ct2, ModelError};

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
    source: PathBuf,
}

impl Weights {
    pub(crate) fn new(map: HashMap<String, Tensor>, source: PathBuf) -> Self {
        Self { map, source }
    }

    /// The tensor `name`, checked against `shape`, in f32.
    pub(super) fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self.take(name, shape)?;
        t.to_dtype(DType::F32).map_err(|e| self.err(e))
    }

    /// The tensor `name`, checked against `shape`, in the dtype it was stored in.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self
            .map
            .remove(name)
            .ok_or_else(|| self.malformed(format!("it has no tensor {name}")))?;
        // Stored in 8 bits: scaled back to floats for a layer that computes in them.
        let t = match (
            shape,
            ct2::quantized_rows(&t, shape.get(1).copied().unwrap_or(0)),
        ) {
            ([o, i], Some((q, scales))) if q.len() == *o => {
                let w: Vec<f32> = q
                    .iter()
                    .zip(&scales)
                    .flat_map(|(row, &s)| row.iter().map(move |&v| v as f32 * s))
                    .collect();
                Tensor::from_vec(w, (*o, *i), &Device::Cpu).map_err(|e| self.err(e))?
            }
            _ => t,
        };
        if t.dims() != shape {
            return Err(self.malformed(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        Ok(t)
    }

    /// The weight `name` (`o × i`) in 8 bits with its per-row scales, where the file stored it
    /// so (a CTranslate2 int8 model); `None` leaves a float weight in place.
    pub(super) fn quantized(
        &mut self,
        name: &str,
        i: usize,
        o: usize,
    ) -> Option<(Vec<Vec<i8>>, Vec<f32>)> {
        let q = ct2::quantized_rows(self.map.get(name)?, i).filter(|(q, _)| q.len() == o)?;
        self.map.remove(name);
        Some(q)
    }

    /// Whether the weight `name` (`i` inputs a row) is stored in 8 bits.
    pub(super) fn is_quantized(&self, name: &str, i: usize) -> bool {
        self.map
            .get(name)
            .is_some_and(|t| t.dtype() == DType::U8 && t.dims().get(1) == Some(&(i + 4)))
    }

    /// The linear layer `name` (`i` inputs, `o` outputs, with a bias where `bias`): 8-bit where
    /// the file stored it so, else float weights in half precision where `float` is
    /// [`Precision::Half`] and in single precision otherwise.
    pub(super) fn linear(
        &mut self,
        name: &str,
        i: usize,
        o: usize,
        bias: bool,
        float: Precision,
    ) -> Result<Linear, ModelError> {
        let weight = format!("{name}.weight");
        let read_bias = |w: &mut Self| {
            bias.then(|| w.vec(&format!("{name}.bias"), &[o]))
                .transpose()
        };
        Ok(match self.quantized(&weight, i, o) {
            Some((q, scales)) => Linear::int8(&q, scales, i, read_bias(self)?),
            None if float == Precision::Half => {
                let w = self.half(&weight, &[o, i])?;
                Linear::half(w, read_bias(self)?, i, o)
            }
            None => {
                let w = self.vec(&weight, &[o, i])?;
                Linear::single(w, read_bias(self)?, i, o)
            }
        })
    }

    /// The convolution `name` of the encoder's front (`cin` channels to `d`, kernel 3, padding
    /// 1; `name.weight` of `d` × `cin` × 3, with its bias), in f32, as a linear layer over the
    /// three input frames of an output position side by side: each row of weights reordered to
    /// the frames' order (frame-major).
    pub(super) fn conv(
        &mut self,
        name: &str,
        cin: usize,
        d: usize,
        stride: usize,
    ) -> Result<Conv3, ModelError> {
        let weight = self.vec(&format!("{name}.weight"), &[d, cin, 3])?;
        let bias = self.vec(&format!("{name}.bias"), &[d])?;
        let mut w = vec![0f32; weight.len()];
        for (o, row) in weight.chunks_exact(3 * cin).enumerate() {
            for (c, taps) in row.chunks_exact(3).enumerate() {
                for (k, &v) in taps.iter().enumerate() {
                    w[o * 3 * cin + k * cin + c] = v;
                }
            }
        }
        Ok(Conv3 {
            lin: Linear::single(w, Some(bias), 3 * cin, d),
            cin,
            stride,
        })
    }

    pub(super) fn norm(&mut self, name: &str, d: usize) -> Result<LayerNorm, ModelError> {
        Ok(LayerNorm {
            w: self.vec(&format!("{name}.weight"), &[d])?,
            b: self.vec(&format!("{name}.bias"), &[d])?,
        })
    }

    /// The tensor `name`, checked against `shape`, flattened to f32 values.
    pub(super) fn vec(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let t = self.get(name, shape)?;
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.err(e))
    }

    /// The tensor `name`, checked against `shape`, flattened to half-precision values.
    fn half(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f16>, ModelError> {
        let t = self.take(name, shape)?;
        t.to_dtype(DType::F16)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f16>())
            .map_err(|e| self.err(e))
    }

    /// The file is not a usable model, for `reason`.
    pub(super) fn malformed(&self, reason: String) -> ModelError {
        ModelError::Malformed {
            path: self.source.clone(),
            reason,
        }
    }

    /// A tensor of the file could not be converted as its layer needs.
    pub(super) fn err(&self, e: candle_core::Error) -> ModelError {
        self.malformed(e.to_string())
    }

    /// Infer the layer counts and sizes from tensor shapes; head counts come from the caller.
    pub(crate) fn infer_dims(
        &self,
        encoder_heads: usize,
        decoder_heads: usize,
    ) -> Result<Dims, ModelError> {
        let need = |n: &str| {
            self.map
                .get(n)
                .map(|t| t.dims().to_vec())
                .ok_or_else(|| self.malformed(format!("it has no tensor {n}")))
        };
        let conv1 = need("encoder.conv1.weight")?;
        let enc_pos = need("encoder.embed_positions.weight")?;
        let dec_pos = need("decoder.embed_positions.weight")?;
        let emb = need("decoder.embed_tokens.weight")?;
        let count = |side: &str| {
            (0..)
                .take_while(|i| {
                    self.map
                        .contains_key(&format!("{side}.layers.{i}.fc1.weight"))
                })
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
