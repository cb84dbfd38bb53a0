//! Keys to actions, only through this map: defaults built in, a user's TOML overriding them, and
//! the footer hints and help text generated from the live map so they never drift from it.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// Everything a key can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pause,
    SwitchMode,
    PickDevice,
    NewSession,
    Save,
    BigText,
    Play,
    FocusNext,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Confirm,
    Cancel,
    Help,
    Quit,
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::Pause,
        Action::SwitchMode,
        Action::PickDevice,
        Action::NewSession,
        Action::Save,
        Action::BigText,
        Action::Play,
        Action::FocusNext,
        Action::ScrollUp,
        Action::ScrollDown,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Confirm,
        Action::Cancel,
        Action::Help,
        Action::Quit,
    ];

    /// Its name in a keymap file.
    pub fn key(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::SwitchMode => "switch_mode",
            Action::PickDevice => "pick_device",
            Action::NewSession => "new_session",
            Action::Save => "save",
            Action::BigText => "big_text",
            Action::Play => "play",
            Action::FocusNext => "focus_next",
            Action::ScrollUp => "scroll_up",
            Action::ScrollDown => "scroll_down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Confirm => "confirm",
            Action::Cancel => "cancel",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// A word or two, for the footer.
    pub fn short(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::SwitchMode => "mode",
            Action::PickDevice => "device",
            Action::NewSession => "new",
            Action::Save => "export",
            Action::BigText => "big",
            Action::Play => "play/stop",
            Action::FocusNext => "focus",
            Action::ScrollUp => "up",
            Action::ScrollDown => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Confirm => "choose",
            Action::Cancel => "close",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// What it does, for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Pause => "pause/resume",
            Action::SwitchMode => "full history / last 5 s",
            Action::PickDevice => "input device",
            Action::NewSession => "new session",
            Action::Save => "export session",
            Action::BigText => "big text for a room / panes",
            Action::Play => "past session: play from top line / stop",
            Action::FocusNext => "captions / history",
            Action::ScrollUp => "scroll up",
            Action::ScrollDown => "scroll down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "top",
            Action::Bottom => "bottom (follow)",
            Action::Confirm => "choose",
            Action::Cancel => "close",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }
}

/// The built-in bindings, in the keymap file's own syntax.
const DEFAULTS: &[(&str, &str)] = &[
    ("space", "pause"),
    ("m", "switch_mode"),
    ("d", "pick_device"),
    ("n", "new_session"),
    ("s", "save"),
    ("b", "big_text"),
    ("p", "play"),
    ("tab", "focus_next"),
    ("k", "scroll_up"),
    ("up", "scroll_up"),
    ("j", "scroll_down"),
    ("down", "scroll_down"),
    ("pageup", "page_up"),
    ("pagedown", "page_down"),
    ("g", "top"),
    ("G", "bottom"),
    ("enter", "confirm"),
    ("esc", "cancel"),
    ("?", "help"),
    ("q", "quit"),
    ("ctrl-c", "quit"),
];

/// A key as the map knows it: a code and whether Ctrl or Alt is held (Shift is in the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// The key codes the map can bind, in an orderable form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

impl Key {
    /// Parse `ctrl-c`, `alt-x`, `G`, `space`, `pagedown`, `f5`, `?`.
    pub fn parse(s: &str) -> Option<Key> {
        let (mut ctrl, mut alt) = (false, false);
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "space" => KeyCodeOrd::Char(' '),
            "enter" | "return" => KeyCodeOrd::Enter,
            "esc" | "escape" => KeyCodeOrd::Esc,
            "tab" => KeyCodeOrd::Tab,
            "backtab" | "shift-tab" => KeyCodeOrd::BackTab,
            "backspace" => KeyCodeOrd::Backspace,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "pageup" | "pgup" => KeyCodeOrd::PageUp,
            "pagedown" | "pgdn" => KeyCodeOrd::PageDown,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().ok()?)
            }
            _ => {
                let mut chars = rest.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                // Ctrl with a letter arrives lower-case.
                KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
        };
        Some(Key { code, ctrl, alt })
    }

    /// The key a terminal event is, if the map can bind it.
    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        let code = match code {
            KeyCodeOrd::Char(c) if ctrl => KeyCodeOrd::Char(c.to_ascii_lowercase()),
            c => c,
        };
        Some(Key {
            code,
            ctrl,
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ctrl {
            write!(f, "Ctrl-")?;
        }
        if self.alt {
            write!(f, "Alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => write!(f, "Space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "F{n}"),
            KeyCodeOrd::PageUp => write!(f, "PgUp"),
            KeyCodeOrd::PageDown => write!(f, "PgDn"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A keymap file: `[keys]` with `"key" = "action"` lines; `"key" = "none"` unbinds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    keys: BTreeMap<String, String>,
}

/// The live map.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    map: BTreeMap<Key, Action>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        for (k, a) in DEFAULTS {
            if let (Some(k), Some(a)) = (Key::parse(k), Action::ALL.iter().find(|x| x.key() == *a))
            {
                map.insert(k, *a);
            }
        }
        Keymap { map }
    }
}

impl Keymap {
    /// The defaults with the user's TOML over them. Bad lines are reported, one sentence each,
    /// and skipped; the rest applies.
    pub fn with_overrides(toml_text: &str) -> (Keymap, Vec<String>) {
        match toml::from_str::<KeymapFile>(toml_text) {
            Ok(f) => Keymap::with_bindings(&f.keys),
            Err(e) => (Keymap::default(), vec![format!("keymap: {}", e.message())]),
        }
    }

    /// The defaults with `"key" = "action"` bindings over them (`"none"` unbinds a key).
    pub fn with_bindings(bindings: &BTreeMap<String, String>) -> (Keymap, Vec<String>) {
        let mut km = Keymap::default();
        let mut problems = Vec::new();
        for (k, a) in bindings {
            let Some(key) = Key::parse(k) else {
                problems.push(format!("keymap: {k:?} is not a key"));
                continue;
            };
            if a == "none" {
                km.map.remove(&key);
                continue;
            }
            match Action::ALL.iter().find(|x| x.key() == a) {
                Some(action) => {
                    km.map.insert(key, *action);
                }
                None => problems.push(format!("keymap: {a:?} (for {k:?}) is not an action")),
            }
        }
        if !km.map.values().any(|a| *a == Action::Quit) {
            km.map.insert(
                Key {
                    code: KeyCodeOrd::Char('c'),
                    ctrl: true,
                    alt: false,
                },
                Action::Quit,
            );
            problems.push("keymap: nothing quits, so Ctrl-C still does".into());
        }
        (km, problems)
    }

    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        Key::from_event(e).and_then(|k| self.map.get(&k).copied())
    }

    /// What a key does, in order. A terminal sends Alt-x as Esc then x, so Esc then x typed
    /// quickly (or arriving in one packet over SSH) reads as Alt-x: an Alt chord the map does
    /// not bind is taken as the two keys.
    pub fn actions(&self, e: &KeyEvent) -> Vec<Action> {
        if let Some(a) = self.action(e) {
            return vec![a];
        }
        let Some(key) = Key::from_event(e).filter(|k| k.alt) else {
            return Vec::new();
        };
        let esc = Key {
            code: KeyCodeOrd::Esc,
            ctrl: false,
            alt: false,
        };
        let plain = Key { alt: false, ..key };
        [esc, plain]
            .iter()
            .filter_map(|k| self.map.get(k).copied())
            .collect()
    }

    /// The keys bound to `action`, as shown to the user.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        self.map
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// Footer hints for `actions`: `key label` pairs, from the live map.
    pub fn hints(&self, actions: &[Action]) -> Vec<(String, &'static str)> {
        actions
            .iter()
            .filter_map(|a| {
                let keys = self.keys_for(*a);
                (!keys.is_empty()).then(|| (keys.join("/"), a.short()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn defaults_bind_the_documented_keys() {
        let km = Keymap::default();
        let a = |code, m| km.action(&ev(code, m));
        assert_eq!(
            a(KeyCode::Char(' '), KeyModifiers::NONE),
            Some(Action::Pause)
        );
        assert_eq!(
            a(KeyCode::Char('m'), KeyModifiers::NONE),
            Some(Action::SwitchMode)
        );
        assert_eq!(
            a(KeyCode::Char('G'), KeyModifiers::SHIFT),
            Some(Action::Bottom)
        );
        assert_eq!(a(KeyCode::Char('g'), KeyModifiers::NONE), Some(Action::Top));
        assert_eq!(
            a(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        assert_eq!(
            a(KeyCode::PageDown, KeyModifiers::NONE),
            Some(Action::PageDown)
        );
        assert_eq!(a(KeyCode::Char('x'), KeyModifiers::NONE), None);
        // Every action has a key.
        for action in Action::ALL {
            assert!(!km.keys_for(action).is_empty(), "{action:?}");
        }
    }

    #[test]
    fn a_user_keymap_overrides_and_hints_follow() {
        let (km, problems) = Keymap::with_overrides(
            "[keys]\n\"p\" = \"pause\"\n\"space\" = \"none\"\n\"ctrl-x\" = \"quit\"\n\"zz\" = \"quit\"\n\"w\" = \"fly\"\n",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            km.action(&ev(KeyCode::Char('p'), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        assert_eq!(km.action(&ev(KeyCode::Char(' '), KeyModifiers::NONE)), None);
        assert_eq!(
            km.action(&ev(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        let hints = km.hints(&[Action::Pause, Action::Quit]);
        assert_eq!(hints[0], ("p".to_string(), "pause"));
        assert!(
            hints[1].0.contains("Ctrl-x") && hints[1].0.contains('q'),
            "{hints:?}"
        );
    }

    #[test]
    fn an_unbound_alt_chord_is_esc_then_the_key() {
        let km = Keymap::default();
        assert_eq!(
            km.actions(&ev(KeyCode::Char('q'), KeyModifiers::ALT)),
            vec![Action::Cancel, Action::Quit]
        );
        assert_eq!(
            km.actions(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            vec![Action::Quit]
        );
        assert!(km
            .actions(&ev(KeyCode::Char('x'), KeyModifiers::NONE))
            .is_empty());
        // A bound Alt chord is itself.
        let (km, _) = Keymap::with_overrides("[keys]\n\"alt-q\" = \"pause\"\n");
        assert_eq!(
            km.actions(&ev(KeyCode::Char('q'), KeyModifiers::ALT)),
            vec![Action::Pause]
        );
    }

    #[test]
    fn quitting_cannot_be_unbound() {
        let (km, problems) =
            Keymap::with_overrides("[keys]\nq = \"none\"\n\"ctrl-c\" = \"none\"\n");
        assert_eq!(
            km.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(problems.len(), 1);
        let (_, problems) = Keymap::with_overrides("[keys\n");
        assert_eq!(problems.len(), 1);
    }
}
