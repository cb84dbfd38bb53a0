//! Captions in large block letters, for a room: the newest lines, as many as fit, in the largest
//! letters that still leave a readable line, the tentative tail dimmed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use tui_big_text::{BigText, PixelSize};

use super::captions::{Captions, Look};

/// Fewer characters than this on a line and the next smaller letters are used.
const MIN_LINE_CHARS: usize = 16;

/// Letter sizes from the largest: how each is drawn and the cells one letter takes.
const SIZES: [(PixelSize, u16, u16); 3] = [
    (PixelSize::Full, 8, 8),
    (PixelSize::HalfHeight, 8, 4),
    (PixelSize::Quadrant, 4, 4),
];

/// How letters fit an area: their size, and how many lines of how many characters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub size: PixelSize,
    pub chars: usize,
    pub rows: usize,
}

impl Fit {
    /// The largest letters with at least two lines of [`MIN_LINE_CHARS`] characters, else the
    /// smallest that give one line of one character; `None` when not even that fits.
    pub fn of(area: Rect) -> Option<Fit> {
        let fits = SIZES.iter().map(|&(size, w, h)| Fit {
            size,
            chars: (area.width / w) as usize,
            rows: (area.height / h) as usize,
        });
        let readable = fits
            .clone()
            .find(|f| f.chars >= MIN_LINE_CHARS && f.rows >= 2);
        readable.or_else(|| {
            fits.clone()
                .next_back()
                .filter(|f| f.chars > 0 && f.rows > 0)
        })
    }

    fn cell(&self) -> (u16, u16) {
        SIZES
            .iter()
            .find(|s| s.0 == self.size)
            .map_or((4, 4), |s| (s.1, s.2))
    }
}

/// The newest caption lines in block letters.
pub struct BigCaptions<'a> {
    pub captions: &'a Captions,
    pub committed: Style,
    pub tentative: Style,
    /// Two inputs' labels.
    pub label: Style,
    /// Shown when there are no words yet.
    pub hint: &'a str,
}

impl Widget for BigCaptions<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(fit) = Fit::of(area) else {
            return;
        };
        let lines = self.captions.wrap_last(fit.chars, fit.rows);
        if lines.is_empty() {
            Paragraph::new(Span::styled(self.hint, self.tentative))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        let (_, h) = fit.cell();
        for (i, pieces) in lines.into_iter().enumerate() {
            let row = Rect {
                y: area.y + i as u16 * h,
                height: h,
                ..area
            };
            let spans: Vec<Span> = pieces
                .into_iter()
                .map(|(text, look)| {
                    let style = match look {
                        Look::Said => self.committed,
                        Look::Tentative => self.tentative,
                        Look::Label => self.label,
                    };
                    Span::styled(text, style)
                })
                .collect();
            BigText::builder()
                .pixel_size(fit.size)
                .lines(vec![Line::from(spans)])
                .build()
                .render(row, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_letters_that_leave_a_readable_line() {
        let at = |w, h| Fit::of(Rect::new(0, 0, w, h));
        // 80x24 less the header, meter, status and footer: quadrant letters, 20 by 5.
        assert_eq!(
            at(80, 20),
            Some(Fit {
                size: PixelSize::Quadrant,
                chars: 20,
                rows: 5
            })
        );
        // A large terminal: full-cell letters.
        assert_eq!(
            at(200, 56),
            Some(Fit {
                size: PixelSize::Full,
                chars: 25,
                rows: 7
            })
        );
        // Wide but short: half-height letters keep two lines.
        assert_eq!(at(160, 10).map(|f| f.size), Some(PixelSize::HalfHeight));
        // Too small for readable lines: the smallest letters, while one fits.
        assert_eq!(at(30, 5).map(|f| (f.chars, f.rows)), Some((7, 1)));
        assert_eq!(at(3, 10), None);
        assert_eq!(at(40, 3), None);
    }
}
