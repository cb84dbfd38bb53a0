//! Drawing the app: header, level meter, caption and history panes, status line, footer hints
//! and popups. Drawing only reads the app's state (it notes the panes' sizes for paging).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Widget, Wrap};

use super::app::{App, Focus, Phase, Popup, Row, Stats};
use super::big::BigCaptions;
use super::captions::Look;
use super::keymap::Action;
use super::meter::LevelBar;
use super::theme::Slot;
use crate::session::export::timestamp;

/// Below this width only the focused pane is shown.
const SIDE_BY_SIDE: u16 = 72;

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        buf.set_style(area, self.theme[Slot::Base]);
        let [header, meter, panes, status, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.header(header, buf);
        match (&self.second, &self.lanes) {
            (Some((second, _)), Some(lanes)) => {
                // Two inputs: a meter each, after its label.
                let [first, other, session] = Layout::horizontal([
                    Constraint::Max(36),
                    Constraint::Max(36),
                    Constraint::Fill(1),
                ])
                .areas(meter);
                for (area, state, label) in [
                    (first, &self.meter, &lanes[0].0),
                    (other, second, &lanes[1].0),
                ] {
                    LevelBar {
                        label: Some(label),
                        state,
                        now: self.now,
                        theme: &self.theme,
                    }
                    .render(area, buf);
                }
                self.session_info(session, buf);
            }
            _ => {
                let [meter, session] =
                    Layout::horizontal([Constraint::Max(56), Constraint::Fill(1)]).areas(meter);
                LevelBar {
                    label: None,
                    state: &self.meter,
                    now: self.now,
                    theme: &self.theme,
                }
                .render(meter, buf);
                self.session_info(session, buf);
            }
        }
        self.panes(panes, buf);
        self.status_line(status, buf);
        self.footer(footer, buf);
        match &self.popup {
            None => {}
            Some(Popup::Help) => self.help(area, buf),
            Some(Popup::Share) => self.share(area, buf),
            Some(Popup::Devices { items, selected }) => self.devices(area, buf, items, *selected),
            Some(Popup::Transcript {
                id,
                lines,
                scroll,
                live,
            }) => self.transcript(area, buf, id, lines, *scroll, *live),
        }
    }
}

/// `MM:SS`, or `H:MM:SS` from an hour on.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A session id (`2026-11-20T14-30-00Z`) as `11-20 14:30`, short enough for the pane.
fn short_id(id: &str) -> String {
    let b = id.as_bytes();
    let well_formed = id.len() >= 16 && b.get(10) == Some(&b'T') && id.is_char_boundary(16);
    if !well_formed {
        return id.to_string();
    }
    format!("{} {}:{}", &id[5..10], &id[11..13], &id[14..16])
}

/// At most `width` characters of `s`, with an ellipsis when cut.
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn width_of(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.content.chars().count()).sum()
}

impl App {
    fn header(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let state = match self.phase {
            Phase::Live if self.session.is_some() => "● REC",
            Phase::Live => "● LIVE",
            Phase::Paused => "‖ PAUSED",
            Phase::Ended => "■ ENDED",
        };
        // Parts in the order shown, with how readily each is dropped when the line is short.
        let mut parts: Vec<(String, Slot, u8)> = vec![
            (" livecap ".into(), Slot::Header, 9),
            (
                format!(" {state} {} ", clock(self.stats.heard)),
                Slot::Recording,
                8,
            ),
            (format!(" mode: {} ", self.mode_label()), Slot::Header, 9),
            (
                format!("│ input: {} ", fit(&self.input, 28)),
                Slot::HeaderDim,
                5,
            ),
            (
                format!("│ model: {} ", fit(&self.model, 20)),
                Slot::HeaderDim,
                3,
            ),
        ];
        // Each input's engine, by its label when there are two: behind, slowed, or keeping up.
        let engines: Vec<(String, &Stats)> = match (&self.lanes, &self.second) {
            (Some(lanes), Some((_, second))) => vec![
                (format!("{} ", lanes[0].0), &self.stats),
                (format!("{} ", lanes[1].0), second),
            ],
            _ => vec![(String::new(), &self.stats)],
        };
        for (who, stats) in engines {
            if stats.lag >= 2.0 {
                parts.push((
                    format!("│ {who}lag {:.1} s ", stats.lag),
                    Slot::HeaderDim,
                    7,
                ));
            } else if let Some(step) = stats.step.filter(|s| *s > self.step + 0.05) {
                // The machine needs longer than --step for an update: say how often they come.
                parts.push((format!("│ {who}every {step:.1} s "), Slot::HeaderDim, 6));
            } else if let Some(rtf) = stats.rtf {
                parts.push((format!("│ {who}rtf {rtf:.2} "), Slot::HeaderDim, 2));
            }
        }
        let width = area.width as usize;
        while parts.iter().map(|p| p.0.chars().count()).sum::<usize>() > width {
            let Some(i) = parts
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.2)
                .map(|(i, _)| i)
            else {
                break;
            };
            if parts[i].2 >= 8 {
                break;
            }
            parts.remove(i);
        }
        buf.set_style(area, t[Slot::HeaderDim]);
        let spans: Vec<Span> = parts
            .into_iter()
            .map(|(text, slot, _)| {
                let style = if slot == Slot::Recording {
                    t[Slot::HeaderDim].patch(t[Slot::Recording])
                } else {
                    t[slot]
                };
                Span::styled(text, style)
            })
            .collect();
        Line::from(spans).render(area, buf);
    }

    /// Which session, and how many words it has, right-aligned beside the meter.
    fn session_info(&self, area: Rect, buf: &mut Buffer) {
        let saved = match &self.session {
            Some(id) => format!("session {}", short_id(id)),
            None if self.saving => "not saved yet".into(),
            None => "not saved".into(),
        };
        let words = format!("{} words", self.captions.words());
        let width = area.width as usize;
        let text = [format!("{words} · {saved} "), format!("{words} ")]
            .into_iter()
            .find(|t| t.chars().count() <= width);
        if let Some(text) = text {
            Line::from(Span::styled(text, self.theme[Slot::HistoryTime]))
                .right_aligned()
                .render(area, buf);
        }
    }

    fn panes(&self, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
        if self.big {
            let t = &self.theme;
            BigCaptions {
                captions: &self.captions,
                committed: t[Slot::Caption],
                tentative: t[Slot::Tentative],
                label: t[Slot::Label],
                hint: self.empty_hint(),
            }
            .render(area, buf);
            return;
        }
        if area.width >= SIDE_BY_SIDE {
            let side = (area.width * 36 / 100).clamp(24, 48);
            let [captions, history] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(side)]).areas(area);
            self.caption_pane(captions, buf);
            self.history_pane(history, buf);
        } else if self.focus == Focus::History {
            self.history_pane(area, buf);
        } else {
            self.caption_pane(area, buf);
        }
    }

    fn pane_block(&self, title: String, focused: bool) -> Block<'static> {
        let t = &self.theme;
        let border = if focused {
            t[Slot::BorderFocused]
        } else {
            t[Slot::Border]
        };
        Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(border)
            .title(Span::styled(title, border))
    }

    /// What the captions show before any words.
    fn empty_hint(&self) -> &'static str {
        match self.phase {
            Phase::Paused => "Paused. Press space to go on.",
            Phase::Ended => "The input ended before any words were heard.",
            Phase::Live => "Listening. Speak, and the words appear here.",
        }
    }

    fn caption_pane(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let following = self.caption_top.is_none();
        let title = if following {
            " Captions ".to_string()
        } else {
            " Captions (scrolled back: G follows) ".to_string()
        };
        let block = self.pane_block(title, self.focus == Focus::Captions);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width == 0 || inner.height == 0 {
            return;
        }
        let (width, height) = (inner.width as usize, inner.height as usize);
        self.caption_view.set((width, height));
        // Following the newest, only the sentences on screen are wrapped.
        let lines = match self.caption_top {
            None => self.captions.wrap_last(width, height),
            Some(_) => self.captions.wrap(width),
        };
        if lines.is_empty() {
            Paragraph::new(Span::styled(self.empty_hint(), t[Slot::Tentative]))
                .wrap(Wrap { trim: true })
                .render(inner, buf);
            return;
        }
        let last_top = lines.len().saturating_sub(height);
        let top = self.caption_top.unwrap_or(last_top).min(last_top);
        let shown: Vec<Line> = lines
            .into_iter()
            .skip(top)
            .take(height)
            .map(|pieces| {
                Line::from(
                    pieces
                        .into_iter()
                        .map(|(text, look)| {
                            let slot = match look {
                                Look::Said => Slot::Caption,
                                Look::Tentative => Slot::Tentative,
                                Look::Label => Slot::Label,
                            };
                            Span::styled(text, t[slot])
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        for (i, line) in shown.into_iter().enumerate() {
            let row = Rect {
                y: inner.y + i as u16,
                height: 1,
                ..inner
            };
            line.render(row, buf);
        }
    }

    fn history_pane(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let focused = self.focus == Focus::History;
        let block = self.pane_block(" History ".into(), focused);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.width == 0 || inner.height == 0 {
            return;
        }
        let rows = self.history_rows();
        let height = inner.height as usize;
        self.history_view.set(height);
        if rows.is_empty() {
            Paragraph::new(Span::styled(
                "Sentences appear here with their times.",
                t[Slot::HistoryTime],
            ))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
            return;
        }
        let n = rows.len();
        let sel = self.history_sel.filter(|_| focused);
        let top = match self.history_sel {
            None => n.saturating_sub(height),
            Some(s) => s.saturating_sub(height / 2).min(n.saturating_sub(height)),
        };
        let width = inner.width as usize;
        for (i, row) in rows.iter().enumerate().skip(top).take(height) {
            let mut spans = match row {
                Row::Heading(h) => vec![Span::styled(
                    fit(&format!("─ {h} ─"), width),
                    t[Slot::HistoryTime],
                )],
                Row::Past(p) => {
                    let p = &self.past[*p];
                    let detail = format!(
                        " {} {}w {}",
                        clock(p.duration),
                        p.words,
                        p.title.as_deref().unwrap_or("")
                    );
                    let id = fit(&short_id(&p.id), width);
                    let rest = fit(&detail, width.saturating_sub(id.chars().count()));
                    vec![
                        Span::styled(id, t[Slot::HistoryText]),
                        Span::styled(rest, t[Slot::HistoryTime]),
                    ]
                }
                Row::Line(l) => {
                    let s = &self.captions.sentences()[*l];
                    let time = format!("{} ", clock(s.start));
                    let text = fit(&s.text, width.saturating_sub(time.chars().count()));
                    vec![
                        Span::styled(time, t[Slot::HistoryTime]),
                        Span::styled(text, t[Slot::HistoryText]),
                    ]
                }
            };
            if sel == Some(i) {
                for s in &mut spans {
                    s.style = t[Slot::Selected];
                }
            }
            let y = inner.y + (i - top) as u16;
            let row_area = Rect {
                y,
                height: 1,
                ..inner
            };
            if sel == Some(i) {
                buf.set_style(row_area, t[Slot::Selected]);
            }
            Line::from(spans).render(row_area, buf);
        }
    }

    fn status_line(&self, area: Rect, buf: &mut Buffer) {
        if let Some(s) = &self.status {
            let slot = if s.error {
                Slot::StatusError
            } else {
                Slot::StatusInfo
            };
            Span::styled(
                fit(&format!(" {}", s.text), area.width as usize),
                self.theme[slot],
            )
            .render(area, buf);
        }
    }

    /// Key hints for what the keys do now, from the live keymap; `?` help is kept when the line
    /// is short.
    fn footer(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let actions: &[Action] = match &self.popup {
            None if self.big => &[
                Action::BigText,
                Action::Pause,
                Action::SwitchMode,
                Action::Help,
                Action::Quit,
            ],
            None => &[
                Action::Pause,
                Action::SwitchMode,
                Action::PickDevice,
                Action::NewSession,
                Action::Save,
                Action::BigText,
                Action::FocusNext,
                Action::Help,
                Action::Quit,
            ],
            Some(Popup::Help | Popup::Share) => &[Action::Cancel, Action::Quit],
            Some(Popup::Devices { .. }) => &[
                Action::ScrollDown,
                Action::ScrollUp,
                Action::Confirm,
                Action::Cancel,
            ],
            Some(Popup::Transcript { .. }) => &[
                Action::ScrollDown,
                Action::ScrollUp,
                Action::Play,
                Action::PageDown,
                Action::Cancel,
            ],
        };
        let hints = self.keymap.hints(actions);
        let width = area.width as usize;
        let mut spans: Vec<Span> = Vec::new();
        let hint = |(key, label): &(String, &str)| {
            vec![
                Span::styled(format!(" {key}"), t[Slot::FooterKey]),
                Span::styled(format!(" {label} "), t[Slot::FooterText]),
            ]
        };
        // Help and quit last, always; the others as room allows.
        let (must, rest): (Vec<_>, Vec<_>) = hints.iter().partition(|(_, label)| {
            *label == Action::Help.short() || *label == Action::Quit.short()
        });
        let must_spans: Vec<Span> = must.iter().flat_map(|h| hint(h)).collect();
        let room = width.saturating_sub(width_of(&must_spans));
        for h in rest {
            let s = hint(h);
            if width_of(&spans) + width_of(&s) > room {
                break;
            }
            spans.extend(s);
        }
        spans.extend(must_spans);
        Line::from(spans).render(area, buf);
    }

    fn popup_block(&self, title: &str) -> Block<'static> {
        Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(self.theme[Slot::BorderFocused])
            .title(Span::styled(
                format!(" {title} "),
                self.theme[Slot::BorderFocused],
            ))
            .style(self.theme[Slot::Popup])
    }

    /// A box of at most `w`×`h` centred in `area`, cleared, with its frame drawn; returns the
    /// inside.
    fn popup_area(&self, area: Rect, buf: &mut Buffer, title: &str, w: u16, h: u16) -> Rect {
        let w = w.min(area.width.saturating_sub(2)).max(area.width.min(10));
        let h = h.min(area.height.saturating_sub(2)).max(area.height.min(3));
        let r = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height - h) / 2,
            width: w,
            height: h,
        };
        Clear.render(r, buf);
        let block = self.popup_block(title);
        let inner = block.inner(r);
        block.render(r, buf);
        inner
    }

    fn help(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let mut lines: Vec<Line> = Vec::new();
        for a in Action::ALL {
            let keys = self.keymap.keys_for(a);
            if keys.is_empty() {
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{:>14}  ", keys.join(" ")), t[Slot::FooterKey]),
                Span::styled(a.describe(), t[Slot::Popup]),
            ]));
        }
        lines.push(Line::from(vec![
            Span::styled("Captions: ", t[Slot::Popup]),
            Span::styled("steady text is final; ", t[Slot::Caption]),
            Span::styled("dimmed text may still change.", t[Slot::Tentative]),
        ]));
        lines.push(Line::from(Span::styled(
            "Every committed line is saved as it appears.",
            t[Slot::Popup],
        )));
        let mut w = 64;
        if let Some((url, _)) = &self.shared {
            lines.push(Line::from(Span::styled("Shared at:", t[Slot::Popup])));
            lines.push(Line::from(Span::styled(url.clone(), t[Slot::FooterKey])));
            w = w.max(url.chars().count() as u16 + 2);
        }
        let h = lines.len() as u16 + 2;
        let inner = self.popup_area(area, buf, "Keys", w, h);
        Paragraph::new(lines)
            .style(t[Slot::Popup])
            .wrap(Wrap { trim: false })
            .render(inner, buf);
    }

    /// The shared page's link and QR code, as large as the screen allows.
    fn share(&self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        let Some((url, qr)) = &self.shared else {
            return;
        };
        let mut lines: Vec<Line> = vec![
            Line::from(Span::styled(
                "Read the captions on another device:",
                t[Slot::Popup],
            )),
            Line::from(Span::styled(url.clone(), t[Slot::FooterKey])),
        ];
        let qr_width = qr.first().map_or(0, |l| l.chars().count()) as u16;
        // The code only when all of it fits: a cut code cannot be read.
        let h = qr.len() as u16 + 2 + 2;
        let w = qr_width.max(url.chars().count() as u16) + 2;
        let fits = h <= area.height && w <= area.width;
        if fits {
            lines.extend(qr.iter().map(|l| Line::from(l.clone())));
        }
        let h = lines.len() as u16 + 2;
        let inner = self.popup_area(area, buf, "Shared", w.max(40), h);
        Paragraph::new(lines)
            .style(t[Slot::Popup])
            .render(inner, buf);
    }

    fn devices(
        &self,
        area: Rect,
        buf: &mut Buffer,
        items: &Option<Vec<super::app::DeviceItem>>,
        selected: usize,
    ) {
        let t = &self.theme;
        let lines: Vec<Line> = match items {
            None => vec![Line::from("Looking for input devices…")],
            Some(v) if v.is_empty() => vec![Line::from("No input device can capture now.")],
            Some(v) => v
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mark = if d.default { " [default]" } else { "" };
                    let style = if i == selected {
                        t[Slot::Selected]
                    } else {
                        t[Slot::Popup]
                    };
                    Line::from(Span::styled(format!(" {}{mark} ", d.label), style))
                })
                .collect(),
        };
        let h = (lines.len() as u16 + 2).max(5);
        let inner = self.popup_area(area, buf, "Input device", 70, h);
        let skip = selected.saturating_sub(inner.height.saturating_sub(1) as usize);
        let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
        Paragraph::new(lines)
            .style(t[Slot::Popup])
            .render(inner, buf);
    }

    fn transcript(
        &self,
        area: Rect,
        buf: &mut Buffer,
        id: &str,
        lines: &Result<Vec<String>, String>,
        scroll: usize,
        live: bool,
    ) {
        let t = &self.theme;
        let text: Vec<Line> = match lines {
            Ok(l) if l.is_empty() => vec![Line::from("This session has no words.")],
            // The top line is the one `p` plays from.
            Ok(l) => l
                .iter()
                .enumerate()
                .skip(scroll)
                .map(|(i, s)| {
                    let slot = if i == scroll {
                        Slot::Selected
                    } else {
                        Slot::Popup
                    };
                    Line::from(Span::styled(s.clone(), t[slot]))
                })
                .collect(),
            Err(e) => vec![Line::from(Span::styled(e.clone(), t[Slot::StatusError]))],
        };
        let inner = self.popup_area(
            area,
            buf,
            &match (&self.playing, live) {
                (Some(from), _) => format!("Session {id} · playing from {from} (p stops)"),
                (None, true) => format!("Session {id} · live, being recorded"),
                (None, false) => format!("Session {id}"),
            },
            area.width.saturating_sub(6),
            area.height.saturating_sub(4),
        );
        Paragraph::new(text)
            .style(t[Slot::Popup])
            .wrap(Wrap { trim: true })
            .render(inner, buf);
    }
}

/// A transcript line as the viewer shows it.
pub fn transcript_line(start: f64, text: &str) -> String {
    format!("{}  {}", timestamp(start, '.'), text.trim())
}

/// When a line [`transcript_line`] made starts, in seconds (none for a line it did not make).
pub fn line_start(line: &str) -> Option<f64> {
    let stamp = line.split("  ").next()?;
    let (hms, ms) = stamp.split_once('.')?;
    let mut secs = 0u64;
    for part in hms.split(':') {
        secs = secs * 60 + part.parse::<u64>().ok()?;
    }
    Some(secs as f64 + ms.parse::<u64>().ok()? as f64 / 1000.0)
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn a_lines_start_reads_back_as_it_was_written() {
        for t in [0.0, 0.25, 59.999, 3_600.5, 86_399.0] {
            let line = transcript_line(t, "  Some words.  ");
            let back = line_start(&line).unwrap_or(f64::NAN);
            assert!((back - t).abs() < 0.0005, "{t} -> {line} -> {back}");
        }
        assert_eq!(
            line_start("(the last line was cut off when livecap was stopped)"),
            None
        );
    }
}
