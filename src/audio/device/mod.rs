//! Capture devices through cpal, split by job: listing them with what they offer (`list`),
//! finding one by name or index (`find`), and the capture thread that owns the (not `Send`)
//! stream (`capture`). Probing devices loads the system's audio plugins, some of which (JACK's,
//! for one) print on standard error on their own; every probe silences it through
//! [`crate::stderr`], its one owner, so that nothing lands over the captions or the list.

mod capture;
mod find;
mod list;
mod play;
mod system;

pub use capture::{CaptureStats, DeviceCapture, Switcher};
pub use find::find_device;
pub use list::{list_devices, DeviceInfo};
pub use play::Playback;
pub use system::SYSTEM;

use cpal::traits::DeviceTrait;
use cpal::Device;

use super::AudioError;

pub(super) fn device_error(device: &str, reason: impl std::fmt::Display) -> AudioError {
    AudioError::Device {
        device: device.to_string(),
        reason: reason.to_string(),
    }
}

/// What to say when there is nothing to capture from.
pub const NO_DEVICE: &str =
    "this machine has no audio input device; use --input FILE, or --input - for raw PCM on standard input";

/// Where microphones, other inputs and the output are found: ALSA on Linux (which reaches a
/// sound server through its plugins), the platform's default elsewhere. Monitors of outputs come from the
/// sound server itself (see [`system`]).
fn host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    if let Ok(host) = cpal::host_from_id(cpal::HostId::Alsa) {
        return host;
    }
    cpal::default_host()
}

/// What a device is called: its description, and the system's identifier for it (for ALSA, the
/// PCM name, such as `default` or `hw:1,0`) if that is different.
fn names_of(d: &Device) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(desc) = d.description() {
        names.push(desc.name().to_string());
    }
    if let Ok(id) = d.id() {
        let id = id.id().to_string();
        if !names.contains(&id) {
            names.push(id);
        }
    }
    if names.is_empty() {
        names.push("(unnamed)".into());
    }
    names
}

/// A device as messages show it: the name `device:` takes, then its description.
fn label(names: &[String]) -> String {
    match names {
        [desc, id, ..] => format!("{id} ({})", desc.replace('\n', " - ")),
        [one] => one.clone(),
        [] => "(unnamed)".into(),
    }
}

/// Keep alsa-lib from printing its diagnostics to stderr on this thread (they would land over
/// the captions); failures still reach the user through cpal's errors.
fn quiet_alsa() {
    #[cfg(target_os = "linux")]
    {
        let _ = alsa::Output::local_error_handler();
    }
}

/// Quiet while the system's audio plugins are probed: alsa-lib on this thread, and standard
/// error for the process (until the guard is dropped).
fn quiet() -> crate::stderr::Hush {
    quiet_alsa();
    crate::stderr::hush()
}
