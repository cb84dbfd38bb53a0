//! The terminal while the app owns it. [`Screen::enter`] puts it in raw mode on the alternate
//! screen and installs the only panic hook; dropping the screen gives the terminal back. A panic
//! on any thread but the engine's gives the terminal back before its message is printed; the
//! engine's own panics are caught by the session, which commits what it can and says so on the
//! status line, so the screen stays for the transcript to be read and saved.

use std::io::{self, Stdout};

use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The app's terminal: raw mode and the alternate screen until dropped.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Take the terminal. Panics on the thread named `keep_for` leave it as it is; any other
    /// panic restores it first.
    pub fn enter(keep_for: &'static str) -> io::Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(keep_for) {
                restore();
                crate::stderr::release();
            }
            previous(info);
        }));
        enable_raw_mode()?;
        let entered = crossterm::execute!(io::stdout(), EnterAlternateScreen)
            .and_then(|_| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Normal mode, the main screen, the cursor shown (harmless if they already are).
fn restore() {
    disable_raw_mode().ok();
    crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show).ok();
}
