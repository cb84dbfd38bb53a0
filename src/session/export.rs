//! Writing a transcript as plain text, SRT, WebVTT or JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::transcript::{Segment, Transcript};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Txt,
    Srt,
    Vtt,
    Json,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json => "json",
        }
    }
}

/// `HH:MM:SS<sep>mmm`.
pub fn timestamp(secs: f64, sep: char) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Cue text: no blank lines (they end a cue) and, for WebVTT, no `-->`.
fn cue_text(s: &Segment) -> String {
    s.text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("-->", "->")
}

#[derive(Serialize)]
struct JsonTranscript<'a> {
    file: &'a str,
    language: &'a str,
    duration: f64,
    text: String,
    segments: Vec<JsonSegment<'a>>,
}

#[derive(Serialize)]
struct JsonSegment<'a> {
    start: f64,
    end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
    text: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    words: Vec<JsonWord<'a>>,
}

#[derive(Serialize)]
struct JsonWord<'a> {
    text: &'a str,
    start: f64,
    end: f64,
    probability: f64,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Write `t` (transcribed from `file`) in `format`.
pub fn write_transcript(
    w: &mut dyn Write,
    t: &Transcript,
    file: &str,
    format: Format,
) -> io::Result<()> {
    let cues = t.segments.iter().filter(|s| !s.text.trim().is_empty());
    match format {
        Format::Txt => {
            for s in cues {
                match &s.speaker {
                    Some(who) => writeln!(w, "{who}: {}", s.text.trim())?,
                    None => writeln!(w, "{}", s.text.trim())?,
                }
            }
        }
        Format::Srt => {
            for (i, s) in cues.enumerate() {
                writeln!(
                    w,
                    "{}\n{} --> {}\n{}\n",
                    i + 1,
                    timestamp(s.start, ','),
                    timestamp(s.end, ','),
                    match &s.speaker {
                        Some(who) => format!("{who}: {}", cue_text(s)),
                        None => cue_text(s),
                    }
                )?;
            }
        }
        Format::Vtt => {
            writeln!(w, "WEBVTT\n")?;
            for s in cues {
                writeln!(
                    w,
                    "{} --> {}\n{}\n",
                    timestamp(s.start, '.'),
                    timestamp(s.end, '.'),
                    match &s.speaker {
                        // A voice span names who speaks (`<` and `>` cannot be in the name).
                        Some(who) => format!("<v {}>{}", who.replace(['<', '>'], ""), cue_text(s)),
                        None => cue_text(s),
                    }
                )?;
            }
        }
        Format::Json => {
            let j = JsonTranscript {
                file,
                language: &t.language,
                duration: round3(t.duration),
                text: t.text(),
                segments: cues
                    .map(|s| JsonSegment {
                        start: round3(s.start),
                        end: round3(s.end),
                        speaker: s.speaker.as_deref(),
                        text: s.text.trim(),
                        words: s
                            .words
                            .iter()
                            .map(|w| JsonWord {
                                text: &w.text,
                                start: round3(w.start),
                                end: round3(w.end),
                                probability: round3(w.probability as f64),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut *w, &j)?;
            writeln!(w)?;
        }
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            tokens: vec![],
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            temperature: 0.0,
            words: vec![],
            speaker: None,
        }
    }

    #[test]
    fn two_speakers_keep_their_labels_in_every_format() {
        let t = Transcript {
            language: "en".into(),
            duration: 4.0,
            segments: vec![
                Segment {
                    speaker: Some("You".into()),
                    ..seg(0.0, 2.0, "Can you hear me?")
                },
                Segment {
                    speaker: Some("Them".into()),
                    ..seg(1.5, 4.0, "Yes, loud and clear.")
                },
            ],
        };
        let out = |format| {
            let mut b = Vec::new();
            write_transcript(&mut b, &t, "call", format).expect("written");
            String::from_utf8(b).expect("utf-8")
        };
        assert_eq!(
            out(Format::Txt),
            "You: Can you hear me?\nThem: Yes, loud and clear.\n"
        );
        assert!(
            out(Format::Srt).contains("00:00:01,500 --> 00:00:04,000\nThem: Yes, loud and clear.")
        );
        assert!(out(Format::Vtt).contains("00:00:00.000 --> 00:00:02.000\n<v You>Can you hear me?"));
        let json: serde_json::Value = serde_json::from_str(&out(Format::Json)).expect("json");
        assert_eq!(json["segments"][1]["speaker"], "Them");
        assert_eq!(json["segments"][0]["text"], "Can you hear me?");
    }

    fn render(format: Format) -> String {
        let t = Transcript {
            language: "en".into(),
            duration: 3725.5,
            segments: vec![
                seg(0.0, 1.5, " Hello there."),
                seg(1.5, 1.5, "  "),
                seg(3661.25, 3662.0, "a --> b"),
            ],
        };
        let mut out = Vec::new();
        assert!(write_transcript(&mut out, &t, "x.wav", format).is_ok());
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(3661.2504, ','), "01:01:01,250");
        assert_eq!(timestamp(-1.0, '.'), "00:00:00.000");
    }

    #[test]
    fn srt_and_vtt_cues() {
        let srt = render(Format::Srt);
        assert!(
            srt.starts_with("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:01:01,250")
        );
        assert!(!srt.contains("a --> b"));
        let vtt = render(Format::Vtt);
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n"));
        assert_eq!(vtt.matches("-->").count(), 2);
    }

    #[test]
    fn json_shape() {
        let j: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap_or_default();
        assert_eq!(j["file"], "x.wav");
        assert_eq!(j["segments"].as_array().map(|a| a.len()), Some(2));
        assert_eq!(j["text"], "Hello there. a --> b");
        assert_eq!(j["duration"], 3725.5);
    }
}
