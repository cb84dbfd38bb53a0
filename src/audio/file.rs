//! Decoding a whole audio file with symphonia.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{resample, Audio, AudioError, SAMPLE_RATE};

/// Read an audio file, downmix it to mono and resample it to 16 kHz.
pub fn load_file(path: &Path) -> Result<Audio, AudioError> {
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AudioError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            AudioError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            reason: "it is a directory".into(),
        });
    }
    if meta.len() == 0 {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let unsupported = |reason: String| AudioError::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| unsupported(describe(&e)))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| unsupported("it has no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| unsupported(describe(&e)))?;
    let mut rate = params.sample_rate.unwrap_or(0);
    let mut channels = params.channels.map(|c| c.count()).unwrap_or(0);
    let mut mono: Vec<f32> = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut bad_packets = 0usize;
    let mut good_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                if good_packets == 0 {
                    return Err(AudioError::Corrupt {
                        path: path.to_path_buf(),
                        reason: describe(&e),
                    });
                }
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                good_packets += 1;
                let spec = *decoded.spec();
                rate = spec.rate;
                channels = spec.channels.count();
                let need = decoded.capacity() as u64;
                let sb = match &mut buf {
                    Some(b) if b.capacity() as u64 >= need * channels as u64 => b,
                    _ => buf.insert(SampleBuffer::new(need, spec)),
                };
                sb.copy_interleaved_ref(decoded);
                let ch = channels.max(1);
                mono.extend(
                    sb.samples()
                        .chunks_exact(ch)
                        .map(|frame| frame.iter().sum::<f32>() / ch as f32),
                );
            }
            Err(SymError::DecodeError(_)) => bad_packets += 1,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                return Err(AudioError::Corrupt {
                    path: path.to_path_buf(),
                    reason: describe(&e),
                })
            }
        }
    }
    if good_packets == 0 && bad_packets > 0 {
        return Err(AudioError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("none of its {bad_packets} packets could be decoded"),
        });
    }
    if mono.is_empty() {
        return Ok(Audio {
            samples: Vec::new(),
            source_rate: rate,
            source_channels: channels,
        });
    }
    if rate == 0 {
        return Err(unsupported("it does not state its sample rate".into()));
    }
    let samples = if rate == SAMPLE_RATE {
        mono
    } else {
        resample::to_16k(&mono, rate)?
    };
    Ok(Audio {
        samples,
        source_rate: rate,
        source_channels: channels,
    })
}

fn describe(e: &SymError) -> String {
    match e {
        SymError::Unsupported(what) => format!("unsupported {what}"),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "it ends before its header does".into()
        }
        other => other.to_string(),
    }
}
