//! Themes: TOML files with a palette and a style for every part of the screen (a slot), which
//! may inherit from another theme. The bundled ones are embedded; users add theirs in the config
//! directory. A theme that cannot be used gives a warning and the default instead, never a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The themes that ship with livecap, by name.
pub const BUNDLED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// The parts of the screen a theme styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Base,
    Border,
    BorderFocused,
    Header,
    HeaderDim,
    Recording,
    Caption,
    Tentative,
    Label,
    HistoryTime,
    HistoryText,
    MeterLow,
    MeterMid,
    MeterHigh,
    MeterPeak,
    MeterClip,
    FooterKey,
    FooterText,
    Popup,
    Selected,
    StatusInfo,
    StatusError,
}

impl Slot {
    pub const ALL: [Slot; 22] = [
        Slot::Base,
        Slot::Border,
        Slot::BorderFocused,
        Slot::Header,
        Slot::HeaderDim,
        Slot::Recording,
        Slot::Caption,
        Slot::Tentative,
        Slot::Label,
        Slot::HistoryTime,
        Slot::HistoryText,
        Slot::MeterLow,
        Slot::MeterMid,
        Slot::MeterHigh,
        Slot::MeterPeak,
        Slot::MeterClip,
        Slot::FooterKey,
        Slot::FooterText,
        Slot::Popup,
        Slot::Selected,
        Slot::StatusInfo,
        Slot::StatusError,
    ];

    /// The slot's key in a theme file.
    pub fn key(self) -> &'static str {
        match self {
            Slot::Base => "base",
            Slot::Border => "border",
            Slot::BorderFocused => "border_focused",
            Slot::Header => "header",
            Slot::HeaderDim => "header_dim",
            Slot::Recording => "recording",
            Slot::Caption => "caption",
            Slot::Tentative => "tentative",
            Slot::Label => "label",
            Slot::HistoryTime => "history_time",
            Slot::HistoryText => "history_text",
            Slot::MeterLow => "meter_low",
            Slot::MeterMid => "meter_mid",
            Slot::MeterHigh => "meter_high",
            Slot::MeterPeak => "meter_peak",
            Slot::MeterClip => "meter_clip",
            Slot::FooterKey => "footer_key",
            Slot::FooterText => "footer_text",
            Slot::Popup => "popup",
            Slot::Selected => "selected",
            Slot::StatusInfo => "status_info",
            Slot::StatusError => "status_error",
        }
    }
}

/// A theme file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    inherits: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// A usable theme: a style for every slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: Vec<Style>,
}

impl std::ops::Index<Slot> for Theme {
    type Output = Style;
    fn index(&self, slot: Slot) -> &Style {
        &self.styles[slot as usize]
    }
}

fn named_color(s: &str) -> Option<Color> {
    Some(match s.to_ascii_lowercase().as_str() {
        "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

fn hex_color(s: &str) -> Option<Color> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?))
}

fn modifier(s: &str) -> Option<Modifier> {
    Some(match s {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        _ => return None,
    })
}

/// The nearest of the 16 terminal colours to an RGB colour, for terminals without true colour.
pub fn to_16(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else { return c };
    let (mx, mn) = (r.max(g).max(b) as i32, r.min(g).min(b) as i32);
    let lightness = (mx + mn) / 2;
    if mx - mn < 40 {
        // A grey: the nearest of the four greys.
        return match lightness {
            0..=42 => Color::Black,
            43..=127 => Color::DarkGray,
            128..=212 => Color::Gray,
            _ => Color::White,
        };
    }
    // A colour, however pale: keep its hue. Stretch it to full saturation, take the nearest of
    // the six hues, and the light variant for pale or bright colours.
    let stretch = |v: u8| (v as i32 - mn) * 255 / (mx - mn);
    let (sr, sg, sb) = (stretch(r), stretch(g), stretch(b));
    const HUES: [((i32, i32, i32), Color, Color); 6] = [
        ((255, 0, 0), Color::Red, Color::LightRed),
        ((0, 255, 0), Color::Green, Color::LightGreen),
        ((255, 255, 0), Color::Yellow, Color::LightYellow),
        ((0, 0, 255), Color::Blue, Color::LightBlue),
        ((255, 0, 255), Color::Magenta, Color::LightMagenta),
        ((0, 255, 255), Color::Cyan, Color::LightCyan),
    ];
    let d = |(x, y, z): (i32, i32, i32)| (sr - x).pow(2) + (sg - y).pow(2) + (sb - z).pow(2);
    HUES.iter()
        .min_by_key(|(rgb, _, _)| d(*rgb))
        .map_or(
            c,
            |(_, dark, light)| if lightness >= 150 { *light } else { *dark },
        )
}

impl Theme {
    /// The same theme for a terminal that shows only 16 colours.
    pub fn in_16_colours(&self) -> Theme {
        let styles = self
            .styles
            .iter()
            .map(|s| {
                let mut s = *s;
                s.fg = s.fg.map(to_16);
                s.bg = s.bg.map(to_16);
                s
            })
            .collect();
        Theme {
            name: self.name.clone(),
            styles,
        }
    }

    /// The embedded default theme.
    pub fn default_theme() -> Theme {
        // The bundled default is checked by the tests; should it ever fail, plain terminal
        // styles keep the app usable.
        load_from(&ThemeSource::Named("default".into()), None).unwrap_or_else(|_| Theme {
            name: "default".into(),
            styles: vec![Style::default(); Slot::ALL.len()],
        })
    }
}

/// Where a theme comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ThemeSource {
    /// A user theme of that name, else a bundled one.
    Named(String),
    File(PathBuf),
}

/// Why a theme cannot be used, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("theme {theme}: {reason}")]
pub struct ThemeError {
    pub theme: String,
    pub reason: String,
}

fn read_file(
    source: &ThemeSource,
    user_dir: Option<&Path>,
) -> Result<(String, ThemeFile), ThemeError> {
    let (name, text) = match source {
        ThemeSource::Named(name) => {
            let user = user_dir.map(|d| d.join(format!("{name}.toml")));
            match user.filter(|p| p.is_file()) {
                Some(p) => return read_file(&ThemeSource::File(p), None),
                None => match BUNDLED.iter().find(|(n, _)| n == name) {
                    Some((n, text)) => (n.to_string(), text.to_string()),
                    None => {
                        let names: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
                        return Err(ThemeError {
                            theme: name.to_string(),
                            reason: format!(
                                "no such theme; the bundled ones are {}",
                                names.join(", ")
                            ),
                        });
                    }
                },
            }
        }
        ThemeSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ThemeError {
                theme: path.display().to_string(),
                reason: format!("cannot read it: {e}"),
            })?;
            (path.display().to_string(), text)
        }
    };
    let file: ThemeFile = toml::from_str(&text).map_err(|e| ThemeError {
        theme: name.clone(),
        reason: e.message().to_string(),
    })?;
    Ok((name, file))
}

/// Load `source`, following `inherits` (a theme without it inherits the default).
fn load_from(source: &ThemeSource, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
    let mut chain = Vec::new();
    let mut next = Some(source.clone());
    while let Some(src) = next.take() {
        let (name, file) = read_file(&src, user_dir)?;
        if chain.iter().any(|(n, _): &(String, ThemeFile)| *n == name) || chain.len() > 8 {
            return Err(ThemeError {
                theme: name,
                reason: "its `inherits` goes round in a circle".into(),
            });
        }
        next = match (&file.inherits, name.as_str()) {
            (Some(parent), _) => Some(ThemeSource::Named(parent.clone())),
            (None, "default") => None,
            (None, _) => Some(ThemeSource::Named("default".into())),
        };
        chain.push((name, file));
    }
    let theme_name = chain.first().map(|(n, _)| n.clone()).unwrap_or_default();
    // The root first, so that each child overrides its parent.
    let mut palette = BTreeMap::new();
    let mut specs: BTreeMap<String, StyleSpec> = BTreeMap::new();
    for (_, f) in chain.iter().rev() {
        palette.extend(f.palette.clone());
        specs.extend(f.styles.clone());
    }
    let err = |reason: String| ThemeError {
        theme: theme_name.clone(),
        reason,
    };
    let color = |v: &str| -> Result<Color, ThemeError> {
        let v = palette.get(v).map_or(v, String::as_str);
        hex_color(v).or_else(|| named_color(v)).ok_or_else(|| {
            err(format!(
                "{v:?} is not a colour (a palette name, #rrggbb, or a terminal colour name)"
            ))
        })
    };
    if let Some(k) = specs
        .keys()
        .find(|k| !Slot::ALL.iter().any(|s| s.key() == k.as_str()))
    {
        return Err(err(format!("there is no slot called {k:?}")));
    }
    let mut styles = Vec::with_capacity(Slot::ALL.len());
    for slot in Slot::ALL {
        let spec = specs
            .get(slot.key())
            .ok_or_else(|| err(format!("no style for {:?}", slot.key())))?;
        let mut style = Style::default();
        if let Some(fg) = &spec.fg {
            style = style.fg(color(fg)?);
        }
        if let Some(bg) = &spec.bg {
            style = style.bg(color(bg)?);
        }
        for m in &spec.modifiers {
            style = style
                .add_modifier(modifier(m).ok_or_else(|| err(format!("{m:?} is not a modifier")))?);
        }
        styles.push(style);
    }
    Ok(Theme {
        name: theme_name,
        styles,
    })
}

/// The theme `spec` names (a bundled or user theme's name, or a path to a file), or the
/// default with a warning if it cannot be used. `no_color` (the `NO_COLOR` convention) picks the
/// monochrome theme when no theme is named.
pub fn choose(
    spec: Option<&str>,
    user_dir: Option<&Path>,
    no_color: bool,
) -> (Theme, Option<ThemeError>) {
    let spec = spec.unwrap_or(if no_color { "mono" } else { "default" });
    let source = if spec.ends_with(".toml") || spec.contains('/') {
        ThemeSource::File(PathBuf::from(spec))
    } else {
        ThemeSource::Named(spec.to_string())
    };
    match load_from(&source, user_dir) {
        Ok(t) => (t, None),
        Err(e) => (Theme::default_theme(), Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_theme_loads_with_every_slot() {
        for (name, _) in BUNDLED {
            let (t, warning) = choose(Some(name), None, false);
            assert_eq!(warning, None, "{name}");
            assert_eq!(t.name, *name);
            assert_eq!(t.styles.len(), Slot::ALL.len());
        }
        let (dark, light) = (
            choose(None, None, false).0,
            choose(Some("light"), None, false).0,
        );
        assert_ne!(
            dark[Slot::Caption],
            light[Slot::Caption],
            "light inherits styles, not colours"
        );
        assert_eq!(
            dark[Slot::Tentative].add_modifier,
            light[Slot::Tentative].add_modifier
        );
    }

    #[test]
    fn no_color_means_no_colour() {
        let (t, w) = choose(None, None, true);
        assert!(w.is_none());
        for slot in Slot::ALL {
            assert_eq!((t[slot].fg, t[slot].bg), (None, None), "{slot:?}");
        }
        assert!(t[Slot::Tentative].add_modifier.contains(Modifier::DIM));
    }

    #[test]
    fn a_broken_theme_warns_and_falls_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            p.to_string_lossy().into_owned()
        };
        let cases = [
            (write("syntax.toml", "[palette\n"), "theme"),
            (
                write("colour.toml", "[styles]\ncaption = { fg = \"nope\" }\n"),
                "not a colour",
            ),
            (
                write("slot.toml", "[styles]\ncaptions = {}\n"),
                "no slot called",
            ),
            (
                write(
                    "modifier.toml",
                    "[styles]\ncaption = { modifiers = [\"blink\"] }\n",
                ),
                "not a modifier",
            ),
        ];
        for (path, says) in cases {
            let (t, w) = choose(Some(&path), None, false);
            assert_eq!(t, Theme::default_theme());
            let w = w.unwrap_or_else(|| panic!("{path} gave no warning"));
            assert!(w.to_string().contains(says), "{w}");
        }
        let (_, w) = choose(Some("nonesuch"), None, false);
        assert!(w.is_some_and(|w| w.to_string().contains("bundled ones are default")));
    }

    #[test]
    fn a_user_theme_overrides_only_what_it_says() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("mine.toml"),
            "[palette]\naccent = \"#ff8800\"\n[styles]\ncaption = { fg = \"white\", modifiers = [\"bold\"] }\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (t, w) = choose(Some("mine"), Some(dir.path()), false);
        assert!(w.is_none(), "{w:?}");
        let d = Theme::default_theme();
        assert_eq!(
            t[Slot::Caption],
            Style::default()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        );
        assert_eq!(t[Slot::FooterKey].fg, Some(Color::Rgb(0xff, 0x88, 0x00)));
        assert_eq!(t[Slot::Tentative], d[Slot::Tentative]);
    }

    #[test]
    fn sixteen_colours() {
        assert_eq!(to_16(Color::Rgb(250, 10, 10)), Color::Red);
        assert_eq!(to_16(Color::Rgb(255, 90, 90)), Color::LightRed);
        assert_eq!(to_16(Color::Rgb(0x1e, 0x1e, 0x2e)), Color::Black);
        assert_eq!(to_16(Color::Blue), Color::Blue);
        // Pastels keep their hue.
        assert_eq!(to_16(Color::Rgb(0xa6, 0xe3, 0xa1)), Color::LightGreen);
        assert_eq!(to_16(Color::Rgb(0xf9, 0xe2, 0xaf)), Color::LightYellow);
        assert_eq!(to_16(Color::Rgb(0x89, 0xb4, 0xfa)), Color::LightBlue);
        assert_eq!(to_16(Color::Rgb(0x7f, 0x84, 0x9c)), Color::Gray);
        assert_eq!(to_16(Color::Rgb(0x31, 0x32, 0x44)), Color::DarkGray);
        assert_eq!(to_16(Color::Rgb(0x00, 0x80, 0x80)), Color::Cyan);
        let t = Theme::default_theme().in_16_colours();
        for slot in Slot::ALL {
            assert!(!matches!(t[slot].fg, Some(Color::Rgb(..))), "{slot:?}");
        }
        // Every bundled theme stays readable in 16 colours: text differs from its background,
        // and the tentative tail from committed text.
        for (name, _) in BUNDLED {
            let t = choose(Some(name), None, false).0.in_16_colours();
            let bg = t[Slot::Base].bg;
            for slot in [
                Slot::Caption,
                Slot::Tentative,
                Slot::HistoryText,
                Slot::FooterKey,
            ] {
                assert!(t[slot].fg.is_none() || t[slot].fg != bg, "{name} {slot:?}");
            }
            assert_ne!(t[Slot::Tentative], t[Slot::Caption], "{name}");
            // Two inputs' labels stand out from what they said.
            assert_ne!(t[Slot::Label], t[Slot::Caption], "{name}");
            assert_ne!(t[Slot::Label], t[Slot::Tentative], "{name}");
            let h = t[Slot::Header];
            assert!(h.fg.is_none() || h.fg != h.bg, "{name}");
        }
    }
}
