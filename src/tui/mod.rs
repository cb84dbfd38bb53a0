//! The full-screen caption app: app state and its update (`app`), drawing (`view`), the caption
//! text (`captions`) and its block letters for a room (`big`), the level meter, themes, the
//! keymap, the terminal while the app owns it (`terminal`), and the loop that runs it all (`run`).

pub mod app;
pub mod big;
pub mod captions;
pub mod keymap;
pub mod meter;
mod run;
mod terminal;
pub mod theme;
pub mod view;

pub use run::run;
