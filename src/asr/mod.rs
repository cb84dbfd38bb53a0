//! Speech recognition: Whisper models from the hub, a Hugging Face directory or a CTranslate2
//! directory; log-mel features; decoding with timestamps and long-form transcription.

pub mod align;
pub mod chunks;
pub mod ct2;
pub mod decode;
pub mod heard;
pub mod kernels;
pub mod longform;
pub mod mel;
pub mod model;
pub mod source;
pub mod tokens;

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

pub use decode::{DecodeOptions, Task};

/// The model used when none is named: small, fast, English.
pub const DEFAULT_MODEL: &str = "tiny.en";
pub use longform::transcribe;
pub use mel::MelExtractor;
pub use model::{Whisper, WorkDone};
pub use source::ModelSource;
pub use tokens::SpecialTokens;

/// Everything that can go wrong finding and loading a model. Each message is one sentence that
/// names the file, directory or flag concerned.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {} is missing", .path.display())]
    MissingFile { path: PathBuf },
    #[error("cannot read model file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {} is not usable: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("model directory {} has no weights: expected model.safetensors (Hugging Face layout) or model.bin (CTranslate2 layout)", .dir.display())]
    NoWeights { dir: PathBuf },
    #[error("--model {arg}: {reason}")]
    BadArg { arg: String, reason: String },
    #[error("could not fetch {file} of {repo} from the Hugging Face hub ({reason}); without the hub, copy a model directory from a machine that has one (a faster-whisper/CTranslate2 directory with model.bin, config.json and tokenizer.json, or a Hugging Face one with model.safetensors, config.json and tokenizer.json) and pass it with --model DIR")]
    Hub {
        repo: String,
        file: String,
        reason: String,
    },
    #[error("HF_HUB_OFFLINE is set and {file} of {repo} is not in the hub cache; unset it to download, or pass a local model directory with --model DIR")]
    Offline { repo: String, file: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("the decoder holds {limit} tokens and was asked for {asked}")]
    ContextFull { limit: usize, asked: usize },
    #[error("token {token} is outside the model's vocabulary")]
    UnknownToken { token: usize },
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

impl ModelError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            ModelError::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            ModelError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    }
}

/// Which on-disk layout a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    HuggingFace,
    CTranslate2,
}

/// A Whisper model ready to transcribe: the network, its tokenizer and its token rules.
pub struct Model {
    pub net: Whisper,
    pub tokenizer: Tokenizer,
    pub tokens: SpecialTokens,
    /// Token ids never to be produced (non-speech symbols).
    pub suppress: Vec<u32>,
    /// Token ids not allowed as the first sampled token (blank, end of text).
    pub begin_suppress: Vec<u32>,
    pub format: ModelFormat,
    /// Directory the files were read from.
    pub dir: PathBuf,
    pub mel: MelExtractor,
    /// Decoder heads (layer, head) whose cross-attention follows the audio: word times.
    pub alignment_heads: Vec<(usize, usize)>,
}

#[derive(serde::Deserialize)]
struct HfConfig {
    num_mel_bins: usize,
    d_model: usize,
    encoder_layers: usize,
    encoder_attention_heads: usize,
    decoder_layers: usize,
    decoder_attention_heads: usize,
    max_source_positions: usize,
    max_target_positions: usize,
    vocab_size: usize,
    #[serde(default)]
    suppress_tokens: Vec<u32>,
    #[serde(default)]
    begin_suppress_tokens: Option<Vec<u32>>,
}

#[derive(serde::Deserialize)]
struct Ct2Config {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Option<Vec<u32>>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Malformed {
        path: path.to_path_buf(),
        reason: format!("it is not the JSON expected ({e})"),
    })
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, ModelError> {
    if !path.is_file() {
        return Err(ModelError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    Tokenizer::from_file(path).map_err(|e| ModelError::Malformed {
        path: path.to_path_buf(),
        reason: format!("it is not a tokenizer ({e})"),
    })
}

/// The tokenizer at `path`, read on a thread of its own while `work` (reading the weights)
/// runs: parsing its JSON takes as long as a third of a small model's load. Its error comes
/// first, as when the two were read one after the other.
fn beside_tokenizer<T: Send>(
    path: &Path,
    work: impl FnOnce() -> Result<T, ModelError> + Send,
) -> Result<(Tokenizer, T), ModelError> {
    let (tokenizer, done) = std::thread::scope(|s| {
        let tokenizer = s.spawn(|| load_tokenizer(path));
        let done = work();
        (
            tokenizer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            done,
        )
    });
    Ok((tokenizer?, done?))
}

/// The precision the model computes in (`--compute-type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ComputeType {
    /// The encoder's projections, the decoder's layers and the vocabulary projection with 8-bit
    /// weights and inputs (one scale per output channel and per input row), summed exactly in
    /// 32-bit integers; attention as for float16. The default: faster than float16, and as
    /// accurate offline and live with tiny.en and base (BENCHMARKS.md).
    #[default]
    Int8,
    /// The checkpoint's own precision: the decoder's weights in half precision, the encoder in
    /// float32.
    Float16,
    /// Every weight in single precision.
    Float32,
}

impl std::fmt::Display for ComputeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ComputeType::Int8 => "int8",
            ComputeType::Float16 => "float16",
            ComputeType::Float32 => "float32",
        })
    }
}

impl Model {
    /// Resolve `--model` (hub id, short name or directory) and load it.
    pub fn load(arg: &str) -> Result<Self, ModelError> {
        Self::load_as(arg, ComputeType::default())
    }

    /// [`Model::load`], computing in `compute`.
    pub fn load_as(arg: &str, compute: ComputeType) -> Result<Self, ModelError> {
        let dir = ModelSource::parse(arg)?.fetch()?;
        let mut model = Self::load_dir(&dir)?;
        model.net.set_compute(compute);
        Ok(model)
    }

    /// Load a model directory in Hugging Face or CTranslate2 layout.
    pub fn load_dir(dir: &Path) -> Result<Self, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::BadArg {
                arg: dir.display().to_string(),
                reason: "no such directory".into(),
            });
        }
        let st = dir.join("model.safetensors");
        let bin = dir.join("model.bin");
        if st.is_file() {
            Self::load_hf(dir, &st)
        } else if bin.is_file() {
            Self::load_ct2(dir, &bin)
        } else {
            Err(ModelError::NoWeights {
                dir: dir.to_path_buf(),
            })
        }
    }

    fn load_hf(dir: &Path, st: &Path) -> Result<Self, ModelError> {
        let cfg_path = dir.join("config.json");
        let cfg: HfConfig = read_json(&cfg_path)?;
        let (tokenizer, net) = beside_tokenizer(&dir.join("tokenizer.json"), || {
            let data = std::fs::read(st).map_err(|e| ModelError::io(st, e))?;
            let tensors = candle_core::safetensors::load_buffer(&data, &candle_core::Device::Cpu)
                .map_err(|e| ModelError::Malformed {
                path: st.to_path_buf(),
                reason: format!("it is not a readable safetensors file ({e})"),
            })?;
            let map = tensors
                .into_iter()
                .map(|(k, v)| (k.strip_prefix("model.").map(str::to_owned).unwrap_or(k), v))
                .collect();
            let weights = model::Weights::new(map, st.to_path_buf());
            let dims = model::Dims {
                n_mels: cfg.num_mel_bins,
                d_model: cfg.d_model,
                encoder_layers: cfg.encoder_layers,
                encoder_heads: cfg.encoder_attention_heads,
                decoder_layers: cfg.decoder_layers,
                decoder_heads: cfg.decoder_attention_heads,
                n_audio_ctx: cfg.max_source_positions,
                n_text_ctx: cfg.max_target_positions,
                n_vocab: cfg.vocab_size,
            };
            Whisper::load(weights, dims)
        })?;
        Self::finish(
            net,
            tokenizer,
            cfg.suppress_tokens,
            cfg.begin_suppress_tokens,
            ModelFormat::HuggingFace,
            dir,
            &dir.join("tokenizer.json"),
        )
    }

    fn load_ct2(dir: &Path, bin: &Path) -> Result<Self, ModelError> {
        let cfg: Ct2Config = read_json(&dir.join("config.json"))?;
        let (tokenizer, net) = beside_tokenizer(&dir.join("tokenizer.json"), || {
            let ct2 = ct2::Ct2Model::load(bin)?;
            if !ct2.spec.contains("Whisper") {
                return Err(ModelError::Malformed {
                    path: bin.to_path_buf(),
                    reason: format!("it holds a {} model, not Whisper", ct2.spec),
                });
            }
            let heads = |k: &str| {
                ct2.scalars
                    .get(k)
                    .map(|&v| v as usize)
                    .ok_or_else(|| ModelError::Malformed {
                        path: bin.to_path_buf(),
                        reason: format!("it has no {k}"),
                    })
            };
            let (eh, dh) = (heads("encoder/num_heads")?, heads("decoder/num_heads")?);
            let map = ct2.into_hf(bin)?;
            let weights = model::Weights::new(map, bin.to_path_buf());
            let dims = weights.infer_dims(eh, dh)?;
            Whisper::load(weights, dims)
        })?;
        Self::finish(
            net,
            tokenizer,
            cfg.suppress_ids,
            cfg.suppress_ids_begin,
            ModelFormat::CTranslate2,
            dir,
            &dir.join("tokenizer.json"),
        )
    }

    fn finish(
        net: Whisper,
        tokenizer: Tokenizer,
        suppress: Vec<u32>,
        begin_suppress: Option<Vec<u32>>,
        format: ModelFormat,
        dir: &Path,
        tok_path: &Path,
    ) -> Result<Self, ModelError> {
        let tokens =
            SpecialTokens::from_tokenizer(&tokenizer, net.dims.n_vocab).map_err(|reason| {
                ModelError::Malformed {
                    path: tok_path.to_path_buf(),
                    reason,
                }
            })?;
        // Timestamps <|0.00|> .. <|30.00|> close the vocabulary; a tokenizer from another model
        // would index past it.
        let n_vocab = net.dims.n_vocab as u32;
        if tokens.timestamp_begin + 1501 > n_vocab || tokens.sot >= n_vocab {
            return Err(ModelError::Malformed {
                path: tok_path.to_path_buf(),
                reason: format!("its special tokens do not fit the model's vocabulary of {n_vocab} tokens; is it the tokenizer of another model?"),
            });
        }
        let begin_suppress = begin_suppress.unwrap_or_else(|| vec![220, tokens.eot]);
        let mel = MelExtractor::new(net.dims.n_mels);
        let alignment_heads =
            align::alignment_heads(dir, net.dims.decoder_layers, net.dims.decoder_heads);
        Ok(Self {
            alignment_heads,
            net,
            tokenizer,
            tokens,
            suppress,
            begin_suppress,
            format,
            dir: dir.to_path_buf(),
            mel,
        })
    }

    /// Refuse options this model cannot honour (another language or translation with an
    /// English-only model).
    pub fn check_options(&self, opts: &DecodeOptions) -> Result<(), ModelError> {
        if self.tokens.is_multilingual() {
            if let Some(l) = opts.language.as_deref() {
                if self.tokens.language_token(l).is_none() {
                    return Err(ModelError::Unsupported(format!(
                        "--language {l}: the model in {} does not know this language",
                        self.dir.display()
                    )));
                }
            }
            return Ok(());
        }
        if let Some(l) = opts.language.as_deref().filter(|l| *l != "en") {
            return Err(ModelError::Unsupported(format!(
                "--language {l}: the model in {} is English-only; use a multilingual model such as base or small",
                self.dir.display()
            )));
        }
        if opts.task == Task::Translate {
            return Err(ModelError::Unsupported(format!(
                "--task translate: the model in {} is English-only and cannot translate; use a multilingual model such as base or small",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Text of a token sequence, special and timestamp tokens left out.
    pub fn text(&self, tokens: &[u32]) -> String {
        let ids: Vec<u32> = tokens
            .iter()
            .copied()
            .filter(|&t| t < self.tokens.eot)
            .collect();
        self.tokenizer.decode(&ids, true).unwrap_or_default()
    }
}
