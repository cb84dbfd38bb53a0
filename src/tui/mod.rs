//! The full-screen caption app: app state and its update (`app`), drawing (`view`), the caption
//! text (`captions`), the level meter, themes, the keymap, and the loop that runs it all in a
//! terminal (`run`).

pub mod app;
pub mod captions;
pub mod keymap;
pub mod meter;
mod run;
pub mod theme;
pub mod view;

pub use run::run;
