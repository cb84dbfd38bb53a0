//! The full-screen caption app: themes, the keymap and widgets (the app state and its loop are
//! still to come).

pub mod keymap;
pub mod meter;
pub mod theme;
