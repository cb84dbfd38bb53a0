//! The full-screen caption app: themes, and (to come) the app state, widgets and keymap.

pub mod keymap;
pub mod theme;
