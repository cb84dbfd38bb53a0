//! Reader for CTranslate2 `model.bin` files (the format faster-whisper uses), and the mapping of
//! their Whisper variables onto the Hugging Face names the network is built from.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::ModelError;

/// One variable as stored in the file, before any conversion.
struct RawVar {
    dims: Vec<usize>,
    dtype: u8,
    data: std::ops::Range<usize>,
}

/// The variables of a CTranslate2 model as tensors on the CPU (floats in their stored precision,
/// int8 weights as [`quantized_rows`], int16 ones de-quantised to `f32`), with aliases resolved.
pub struct Ct2Model {
    pub spec: String,
    pub vars: HashMap<String, Tensor>,
    /// Integer-valued scalars such as `encoder/num_heads`.
    pub scalars: HashMap<String, i64>,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ModelError::Malformed {
                path: self.path.to_path_buf(),
                reason: format!(
                    "it ends early (wanted {n} bytes at offset {}, file has {}); it is probably truncated",
                    self.pos,
                    self.buf.len()
                ),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ModelError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, ModelError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| ModelError::Malformed {
            path: self.path.to_path_buf(),
            reason: format!("a variable name at offset {} is not UTF-8", self.pos),
        })
    }
}

fn dtype_of(id: u8) -> Option<(DType, usize)> {
    match id {
        0 => Some((DType::F32, 4)),
        1 => Some((DType::U8, 1)),  // int8, reinterpreted below
        2 => Some((DType::I64, 2)), // int16, widened below
        3 => Some((DType::I64, 4)), // int32, widened below
        4 => Some((DType::F16, 2)),
        5 => Some((DType::BF16, 2)),
        _ => None,
    }
}

/// An int8 weight matrix as this reader hands it on: a `U8` tensor of `rows × (cols + 4)`, each
/// row its `cols` int8 values followed by the little-endian `f32` that multiplies them back.
/// Splitting rows (fused projections) keeps every row with its scale. Returns the values and
/// the scales, or `None` for a tensor not so stored or not `cols` wide.
pub fn quantized_rows(t: &Tensor, cols: usize) -> Option<(Vec<Vec<i8>>, Vec<f32>)> {
    let (_, width) = t.dims2().ok()?;
    if t.dtype() != DType::U8 || width != cols + 4 {
        return None;
    }
    let bytes = t.flatten_all().ok()?.to_vec1::<u8>().ok()?;
    let mut q = Vec::new();
    let mut scales = Vec::new();
    for row in bytes.chunks_exact(width) {
        q.push(row[..cols].iter().map(|&b| b as i8).collect());
        scales.push(f32::from_le_bytes([
            row[cols],
            row[cols + 1],
            row[cols + 2],
            row[cols + 3],
        ]));
    }
    Some((q, scales))
}

/// Each `N` little-endian bytes of `bytes` read as one value by `read`.
fn from_le<T, const N: usize>(bytes: &[u8], read: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            read(b)
        })
        .collect()
}

/// Decode one variable to a tensor: floats in their own precision, integers widened to `f32`
/// (not yet scaled). Each is read from its bytes into the tensor's own vector: one copy,
/// wherever in the file it starts (a tensor made from the bytes copies twice those not aligned
/// to their type).
fn to_tensor(bytes: &[u8], var: &RawVar) -> candle_core::Result<Tensor> {
    let shape = var.dims.clone();
    let cpu = &Device::Cpu;
    match var.dtype {
        0 => Tensor::from_vec(from_le(bytes, f32::from_le_bytes), shape, cpu),
        // Half-precision weights stay so: each layer widens what it needs.
        4 => Tensor::from_vec(from_le(bytes, half::f16::from_le_bytes), shape, cpu),
        5 => Tensor::from_vec(from_le(bytes, half::bf16::from_le_bytes), shape, cpu),
        1 => Tensor::from_vec(from_le(bytes, |[b]: [u8; 1]| b as i8 as f32), shape, cpu),
        2 => Tensor::from_vec(from_le(bytes, |b| i16::from_le_bytes(b) as f32), shape, cpu),
        _ => Tensor::from_vec(from_le(bytes, |b| i32::from_le_bytes(b) as f32), shape, cpu),
    }
}

impl Ct2Model {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let buf = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::parse(&buf, path)
    }

    pub fn parse(buf: &[u8], path: &Path) -> Result<Self, ModelError> {
        let malformed = |reason: String| ModelError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let mut c = Cursor { buf, pos: 0, path };
        let version = c.u32()?;
        if !(4..=6).contains(&version) {
            return Err(malformed(format!(
                "binary version {version} is not a CTranslate2 model version this build reads (4 to 6)"
            )));
        }
        let spec = c.string()?;
        let _revision = c.u32()?;
        let n = c.u32()? as usize;
        let mut raw: Vec<(String, RawVar)> = Vec::with_capacity(n.min(10_000));
        for _ in 0..n {
            let name = c.string()?;
            let rank = c.u8()? as usize;
            let mut dims = Vec::with_capacity(rank);
            for _ in 0..rank {
                dims.push(c.u32()? as usize);
            }
            let dtype = c.u8()?;
            let Some((_, item)) = dtype_of(dtype) else {
                return Err(malformed(format!(
                    "variable {name} has unknown data type id {dtype}"
                )));
            };
            let nbytes = c.u32()? as usize;
            let count: usize = dims.iter().product();
            if count * item != nbytes {
                return Err(malformed(format!(
                    "variable {name} claims {nbytes} bytes for shape {dims:?}"
                )));
            }
            let start = c.pos;
            c.take(nbytes)?;
            raw.push((
                name,
                RawVar {
                    dims,
                    dtype,
                    data: start..start + nbytes,
                },
            ));
        }
        let mut aliases = Vec::new();
        if version >= 3 && c.pos < buf.len() {
            let na = c.u32()? as usize;
            for _ in 0..na {
                let alias = c.string()?;
                let target = c.string()?;
                aliases.push((alias, target));
            }
        }

        let mut vars = HashMap::new();
        let mut scalars = HashMap::new();
        for (name, var) in &raw {
            let bytes = &buf[var.data.clone()];
            if var.dims.is_empty() {
                let v = match var.dtype {
                    1 => bytes[0] as i8 as i64,
                    2 => i16::from_le_bytes([bytes[0], bytes[1]]) as i64,
                    3 => i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as i64,
                    _ => continue,
                };
                scalars.insert(name.clone(), v);
                continue;
            }
            // 2-D int8 weights are re-packed from their bytes below, never widened.
            let t = if var.dtype == 1 && var.dims.len() == 2 && name.ends_with("weight") {
                Tensor::from_raw_buffer(bytes, DType::U8, &var.dims, &Device::Cpu)
            } else {
                to_tensor(bytes, var)
            }
            .map_err(|e| malformed(format!("variable {name}: {e}")))?;
            vars.insert(name.clone(), t);
        }
        // Integer weights: CTranslate2 stores `w_q = round(w * scale)`. int8 ones stay 8-bit,
        // each row with its scale (see [`quantized_rows`]); int16 ones are de-quantised.
        let scaled: Vec<(String, u8, std::ops::Range<usize>)> = raw
            .iter()
            .filter(|(n, v)| {
                matches!(v.dtype, 1 | 2) && !v.dims.is_empty() && n.ends_with("weight")
            })
            .map(|(n, v)| (n.clone(), v.dtype, v.data.clone()))
            .collect();
        for (name, dtype, data) in scaled {
            let scale_name = format!("{name}_scale");
            let Some(scale) = vars.remove(&scale_name) else {
                return Err(malformed(format!(
                    "quantised variable {name} has no {scale_name}"
                )));
            };
            let scale = scale
                .to_dtype(DType::F32)
                .and_then(|s| s.flatten_all())
                .and_then(|s| s.to_vec1::<f32>())
                .map_err(|e| malformed(e.to_string()))?;
            let w = &vars[&name];
            let rows = w.dims().first().copied().unwrap_or(1);
            let per_row = |r: usize| match scale.len() {
                1 => Some(scale[0]),
                n if n == rows => Some(scale[r]),
                _ => None,
            };
            if per_row(0).is_none() || scale.iter().any(|s| !s.is_normal()) {
                return Err(malformed(format!(
                    "{scale_name} does not give one usable scale per row of {name}"
                )));
            }
            let t = if dtype == 1 && w.rank() == 2 {
                let (_, cols) = w.dims2().map_err(|e| malformed(e.to_string()))?;
                let bytes = &buf[data];
                let mut packed = Vec::with_capacity(rows * (cols + 4));
                for (r, row) in bytes.chunks_exact(cols).enumerate() {
                    packed.extend_from_slice(row);
                    packed.extend((1.0 / per_row(r).unwrap_or(1.0)).to_le_bytes());
                }
                Tensor::from_vec(packed, (rows, cols + 4), &Device::Cpu)
            } else {
                let inv: Vec<f32> = (0..rows).map(|r| 1.0 / per_row(r).unwrap_or(1.0)).collect();
                let mut shape = vec![rows];
                shape.extend(std::iter::repeat_n(1, w.rank() - 1));
                Tensor::from_vec(inv, shape, &Device::Cpu).and_then(|s| w.broadcast_mul(&s))
            }
            .map_err(|e| malformed(format!("reading {name}: {e}")))?;
            vars.insert(name, t);
        }
        for (alias, target) in aliases {
            if let Some(t) = vars.get(&target).cloned() {
                vars.insert(alias, t);
            }
        }
        Ok(Self {
            spec,
            vars,
            scalars,
        })
    }

    /// Rename and split the variables into the Hugging Face layout (without the `model.` prefix).
    pub fn into_hf(mut self, path: &Path) -> Result<HashMap<String, Tensor>, ModelError> {
        let missing = |name: &str| ModelError::Malformed {
            path: path.to_path_buf(),
            reason: format!("it has no variable {name}; is it a Whisper model?"),
        };
        let err = |e: candle_core::Error| ModelError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut out = HashMap::new();
        let take = |vars: &mut HashMap<String, Tensor>, name: &str| {
            vars.remove(name).ok_or_else(|| missing(name))
        };
        for side in ["encoder", "decoder"] {
            let layers = (0..)
                .take_while(|i| {
                    self.vars
                        .contains_key(&format!("{side}/layer_{i}/ffn/linear_0/weight"))
                })
                .count();
            if layers == 0 {
                return Err(missing(&format!("{side}/layer_0/ffn/linear_0/weight")));
            }
            for i in 0..layers {
                let src = format!("{side}/layer_{i}");
                let dst = format!("{side}.layers.{i}");
                let qkv_w = take(
                    &mut self.vars,
                    &format!("{src}/self_attention/linear_0/weight"),
                )?;
                let qkv_b = take(
                    &mut self.vars,
                    &format!("{src}/self_attention/linear_0/bias"),
                )?;
                let d = qkv_w.dim(0).map_err(err)? / 3;
                for (j, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                    out.insert(
                        format!("{dst}.self_attn.{p}.weight"),
                        qkv_w.narrow(0, j * d, d).map_err(err)?,
                    );
                    if *p != "k_proj" {
                        out.insert(
                            format!("{dst}.self_attn.{p}.bias"),
                            qkv_b.narrow(0, j * d, d).map_err(err)?,
                        );
                    }
                }
                let pairs: &[(&str, &str)] = &[
                    ("self_attention/linear_1", "self_attn.out_proj"),
                    ("self_attention/layer_norm", "self_attn_layer_norm"),
                    ("ffn/layer_norm", "final_layer_norm"),
                    ("ffn/linear_0", "fc1"),
                    ("ffn/linear_1", "fc2"),
                    ("attention/linear_0", "encoder_attn.q_proj"),
                    ("attention/linear_2", "encoder_attn.out_proj"),
                    ("attention/layer_norm", "encoder_attn_layer_norm"),
                ];
                for (s, t) in pairs {
                    if side == "encoder" && s.starts_with("attention/") {
                        continue;
                    }
                    let (w, b) = if s.ends_with("layer_norm") {
                        ("gamma", "beta")
                    } else {
                        ("weight", "bias")
                    };
                    out.insert(
                        format!("{dst}.{t}.weight"),
                        take(&mut self.vars, &format!("{src}/{s}/{w}"))?,
                    );
                    out.insert(
                        format!("{dst}.{t}.bias"),
                        take(&mut self.vars, &format!("{src}/{s}/{b}"))?,
                    );
                }
                if side == "decoder" {
                    let kv_w = take(&mut self.vars, &format!("{src}/attention/linear_1/weight"))?;
                    let kv_b = take(&mut self.vars, &format!("{src}/attention/linear_1/bias"))?;
                    let d = kv_w.dim(0).map_err(err)? / 2;
                    out.insert(
                        format!("{dst}.encoder_attn.k_proj.weight"),
                        kv_w.narrow(0, 0, d).map_err(err)?,
                    );
                    out.insert(
                        format!("{dst}.encoder_attn.v_proj.weight"),
                        kv_w.narrow(0, d, d).map_err(err)?,
                    );
                    out.insert(
                        format!("{dst}.encoder_attn.v_proj.bias"),
                        kv_b.narrow(0, d, d).map_err(err)?,
                    );
                }
            }
            out.insert(
                format!("{side}.layer_norm.weight"),
                take(&mut self.vars, &format!("{side}/layer_norm/gamma"))?,
            );
            out.insert(
                format!("{side}.layer_norm.bias"),
                take(&mut self.vars, &format!("{side}/layer_norm/beta"))?,
            );
            out.insert(
                format!("{side}.embed_positions.weight"),
                take(
                    &mut self.vars,
                    &format!("{side}/position_encodings/encodings"),
                )?,
            );
        }
        for conv in ["conv1", "conv2"] {
            for p in ["weight", "bias"] {
                out.insert(
                    format!("encoder.{conv}.{p}"),
                    take(&mut self.vars, &format!("encoder/{conv}/{p}"))?,
                );
            }
        }
        out.insert(
            "decoder.embed_tokens.weight".into(),
            take(&mut self.vars, "decoder/embeddings/weight")?,
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model.bin (version 6) holding `vars`: name, dimensions, type id, bytes.
    fn model_bin(vars: &[(&str, &[u32], u8, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        let string = |b: &mut Vec<u8>, s: &str| {
            b.extend(((s.len() + 1) as u16).to_le_bytes());
            b.extend(s.as_bytes());
            b.push(0);
        };
        b.extend(6u32.to_le_bytes());
        string(&mut b, "WhisperSpec");
        b.extend(1u32.to_le_bytes());
        b.extend((vars.len() as u32).to_le_bytes());
        for (name, dims, dtype, data) in vars {
            string(&mut b, name);
            b.push(dims.len() as u8);
            for d in *dims {
                b.extend(d.to_le_bytes());
            }
            b.push(*dtype);
            b.extend((data.len() as u32).to_le_bytes());
            b.extend(data);
        }
        b.extend(0u32.to_le_bytes()); // no aliases
        b
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn int8_weights_are_kept_as_stored_with_their_scales() {
        let w: Vec<i8> = vec![1, -2, 3, 127, -127, 0];
        let conv: Vec<i8> = vec![10, -20, 30, 40];
        let bin = model_bin(&[
            (
                "a/linear/weight",
                &[2, 3],
                1,
                w.iter().map(|&v| v as u8).collect(),
            ),
            ("a/linear/weight_scale", &[2], 0, f32_bytes(&[4.0, 0.5])),
            (
                "a/conv/weight",
                &[2, 1, 2],
                1,
                conv.iter().map(|&v| v as u8).collect(),
            ),
            ("a/conv/weight_scale", &[2], 0, f32_bytes(&[10.0, 20.0])),
        ]);
        let m = Ct2Model::parse(&bin, Path::new("model.bin")).unwrap_or_else(|e| panic!("{e}"));
        let t = &m.vars["a/linear/weight"];
        let Some((q, scales)) = quantized_rows(t, 3) else {
            panic!("the int8 weight was not kept in 8 bits: {t:?}");
        };
        assert_eq!(q, vec![vec![1, -2, 3], vec![127, -127, 0]]);
        assert_eq!(scales, vec![0.25, 2.0]);
        assert!(quantized_rows(t, 4).is_none(), "a wrong width is not taken");
        assert!(!m.vars.contains_key("a/linear/weight_scale"));
        // A convolution's weights (3-D) are scaled back to floats.
        let c = m.vars["a/conv/weight"]
            .flatten_all()
            .and_then(|c| c.to_vec1::<f32>())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, vec![1.0, -2.0, 1.5, 2.0]);
    }

    #[test]
    fn a_scale_that_does_not_fit_its_weight_is_refused() {
        let bin = model_bin(&[
            ("a/linear/weight", &[2, 2], 1, vec![1, 2, 3, 4]),
            (
                "a/linear/weight_scale",
                &[3],
                0,
                f32_bytes(&[1.0, 1.0, 1.0]),
            ),
        ]);
        let Err(e) = Ct2Model::parse(&bin, Path::new("model.bin")) else {
            panic!("a scale of 3 rows for 2 was accepted");
        };
        assert!(e.to_string().contains("weight_scale"), "{e}");
    }
}
