//! The level meter: an RMS bar with a peak that holds then falls, and a clip mark that stays lit
//! for a moment. The capture side only publishes levels; holding and falling are applied here, at
//! render time, so the meter moves smoothly whatever the callback rate.

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme::{Slot, Theme};
use crate::audio::level::Level;

/// The meter shows -60 dBFS (empty) to 0 dBFS (full).
pub const FLOOR_DB: f32 = -60.0;
/// The longest bar, in cells.
const MAX_BAR: u16 = 40;
/// How long the peak mark holds before it falls.
const PEAK_HOLD: Duration = Duration::from_millis(1200);
/// How fast it then falls, dB per second.
const PEAK_FALL_DB_PER_S: f32 = 20.0;
/// How long the clip mark stays lit after the last clipped block.
const CLIP_HOLD: Duration = Duration::from_secs(2);

/// What the meter remembers between frames.
#[derive(Debug, Clone)]
pub struct MeterState {
    pub rms_db: f32,
    peak_db: f32,
    peak_at: Instant,
    clipped_blocks: u64,
    clip_at: Option<Instant>,
}

impl MeterState {
    pub fn new(now: Instant) -> Self {
        Self {
            rms_db: FLOOR_DB,
            peak_db: FLOOR_DB,
            peak_at: now,
            clipped_blocks: 0,
            clip_at: None,
        }
    }

    /// Take a reading of the published level at `now`.
    pub fn observe(&mut self, level: &Level, now: Instant) {
        self.rms_db = level.rms_db.max(FLOOR_DB);
        let held = self.peak_shown(now);
        if level.peak_db >= held {
            self.peak_db = level.peak_db.max(FLOOR_DB);
            self.peak_at = now;
        }
        if level.clipped_blocks > self.clipped_blocks {
            self.clipped_blocks = level.clipped_blocks;
            self.clip_at = Some(now);
        }
    }

    /// The peak mark at `now`: held, then falling.
    pub fn peak_shown(&self, now: Instant) -> f32 {
        let since = now.saturating_duration_since(self.peak_at);
        let falling = since.saturating_sub(PEAK_HOLD).as_secs_f32();
        (self.peak_db - falling * PEAK_FALL_DB_PER_S).max(FLOOR_DB)
    }

    pub fn clip_lit(&self, now: Instant) -> bool {
        self.clip_at
            .is_some_and(|t| now.saturating_duration_since(t) < CLIP_HOLD)
    }
}

/// Cells of `width` filled by `db`.
fn cells(db: f32, width: u16) -> u16 {
    let frac = ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0);
    (frac * width as f32).round() as u16
}

/// The meter on one line: `[bar  |  ] -23 dB CLIP`.
pub struct LevelBar<'a> {
    /// Whose level it is, when two inputs are metered side by side.
    pub label: Option<&'a str>,
    pub state: &'a MeterState,
    pub now: Instant,
    pub theme: &'a Theme,
}

impl Widget for LevelBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        // The held peak, not the RMS: it changes far less often, so the line is redrawn less
        // (most of what the app writes over a slow link is this meter).
        let label = format!(" peak {:>3.0} dB", self.state.peak_shown(self.now));
        let clip = if self.state.clip_lit(self.now) {
            " CLIP"
        } else {
            ""
        };
        let who = self.label.map(|l| format!("{l} ")).unwrap_or_default();
        let tail = who.chars().count() + label.chars().count() + clip.len() + 2;
        // About 1.5 dB a cell at most: finer steps only redraw more.
        let bar_width = area.width.saturating_sub(tail as u16).min(MAX_BAR);
        let filled = cells(self.state.rms_db, bar_width);
        let peak = cells(self.state.peak_shown(self.now), bar_width);
        let mut spans = Vec::new();
        if !who.is_empty() {
            spans.push(Span::styled(who, self.theme[Slot::Label]));
        }
        if bar_width > 0 {
            spans.push(Span::styled("[", self.theme[Slot::Border]));
            for i in 0..bar_width {
                let pos = i as f32 / bar_width as f32;
                let slot = if pos >= 0.9 {
                    Slot::MeterHigh
                } else if pos >= 0.7 {
                    Slot::MeterMid
                } else {
                    Slot::MeterLow
                };
                let (ch, slot) = if i < filled {
                    ("█", slot)
                } else if peak > 0 && i + 1 == peak {
                    ("|", Slot::MeterPeak)
                } else {
                    (" ", Slot::Base)
                };
                spans.push(Span::styled(ch, self.theme[slot]));
            }
            spans.push(Span::styled("]", self.theme[Slot::Border]));
        }
        spans.push(Span::styled(label, self.theme[Slot::Base]));
        if !clip.is_empty() {
            spans.push(Span::raw(" "));
            spans.push(Span::styled("CLIP", self.theme[Slot::MeterClip]));
        }
        Line::from(spans).render(area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(rms: f32, peak: f32, clipped: u64) -> Level {
        Level {
            rms_db: rms,
            peak_db: peak,
            clipped: false,
            clipped_blocks: clipped,
            blocks: 1,
        }
    }

    fn row(buf: &Buffer) -> String {
        (0..buf.area.width)
            .map(|x| buf[(x, 0)].symbol().to_string())
            .collect()
    }

    #[test]
    fn the_peak_holds_then_falls_and_the_clip_mark_lingers() {
        let t0 = Instant::now();
        let mut s = MeterState::new(t0);
        s.observe(&level(-20.0, -6.0, 0), t0);
        s.observe(&level(-40.0, -30.0, 0), t0 + Duration::from_millis(500));
        assert_eq!(s.peak_shown(t0 + Duration::from_millis(1000)), -6.0);
        let later = s.peak_shown(t0 + Duration::from_millis(2200));
        assert!((later - -26.0).abs() < 0.01, "{later}");
        assert_eq!(s.peak_shown(t0 + Duration::from_secs(60)), FLOOR_DB);
        assert!(!s.clip_lit(t0));
        s.observe(&level(-3.0, 0.0, 1), t0 + Duration::from_secs(3));
        assert!(s.clip_lit(t0 + Duration::from_millis(4500)));
        assert!(!s.clip_lit(t0 + Duration::from_secs(6)));
    }

    #[test]
    fn renders_at_any_width() {
        let theme = Theme::default_theme();
        let t0 = Instant::now();
        let mut s = MeterState::new(t0);
        s.observe(&level(-30.0, -12.0, 1), t0);
        for width in [0u16, 1, 5, 12, 30, 80] {
            let area = Rect::new(0, 0, width, 1);
            let mut buf = Buffer::empty(area);
            LevelBar {
                label: None,
                state: &s,
                now: t0,
                theme: &theme,
            }
            .render(area, &mut buf);
            if width >= 30 {
                let r = row(&buf);
                assert!(r.starts_with('['), "{r}");
                assert!(r.contains("peak -12 dB") && r.contains("CLIP"), "{r}");
                // Half the bar filled (-30 of 60 dB), the peak mark further on.
                let bar: Vec<char> = r.chars().skip(1).take_while(|c| *c != ']').collect();
                let filled = bar.iter().filter(|c| **c == '█').count();
                assert_eq!(filled, (bar.len() as f32 / 2.0).round() as usize);
                let peak = bar.iter().position(|c| *c == '|');
                assert!(peak.is_some_and(|p| p > filled), "{r}");
            }
        }
        // Nothing to draw into a zero-sized area, and no panic.
        let mut buf = Buffer::empty(Rect::new(0, 0, 0, 0));
        LevelBar {
            label: Some("You"),
            state: &s,
            now: t0,
            theme: &theme,
        }
        .render(Rect::new(0, 0, 0, 0), &mut buf);
    }
}
