//! System audio: what an output device plays, captured from its monitor source on the sound
//! server (PulseAudio, or PipeWire's PulseAudio server). The server is asked which sources are
//! monitors and which output is the default over its own protocol (the `pulseaudio` crate, pure
//! Rust, no system library); the audio is captured through cpal's PulseAudio host, so a monitor
//! is captured like any other device (`--input system` follows the default output).

use cpal::Device;

/// The input that names the default output's monitor.
pub const SYSTEM: &str = "system";

/// A monitor source on the sound server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// The server's name for it (`<sink>.monitor` on PulseAudio and PipeWire).
    pub source: String,
    /// What the server calls it ("Monitor of Built-in Audio").
    pub description: String,
    /// Whether it is the default output's (what `--input system` captures).
    pub of_default_output: bool,
}

#[cfg(target_os = "linux")]
mod server {
    use std::ffi::{CStr, CString};
    use std::sync::mpsc;
    use std::time::Duration;

    use cpal::traits::{DeviceTrait, HostTrait};
    use cpal::Device;
    use pulseaudio::Client;

    use super::Monitor;

    /// A server that does not finish the handshake in this long is not answering.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Why there is no system audio, when no sound server answers.
    pub const NO_SERVER: &str = "system audio is captured from a PulseAudio or PipeWire sound server, and none answers here (start one: `pulseaudio --start`, or `systemctl --user start pipewire-pulse`; or set PULSE_SERVER); use --input FILE, or --input - for raw PCM on standard input";

    fn text(s: &Option<CString>) -> Option<String> {
        s.as_deref().map(|s| s.to_string_lossy().into_owned())
    }

    fn connect() -> Result<Client, String> {
        if pulseaudio::socket_path_from_env().is_none() {
            return Err(NO_SERVER.into());
        }
        // The handshake blocks with no timeout of its own: a server that hangs must not.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let name: &CStr = c"livecap";
            tx.send(Client::from_env(name)).ok();
        });
        match rx.recv_timeout(CONNECT_TIMEOUT) {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(format!("{NO_SERVER} ({e})")),
            Err(_) => Err(format!("{NO_SERVER} (it did not answer in 2 s)")),
        }
    }

    /// Run one request to the server, waiting at most as long as for the handshake.
    fn ask<T>(
        request: impl std::future::Future<Output = Result<T, pulseaudio::ClientError>>,
    ) -> Result<T, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot ask the sound server ({e})"))?;
        match runtime.block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, request).await }) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(format!("the sound server refused a request ({e})")),
            Err(_) => Err("the sound server did not answer in 2 s".into()),
        }
    }

    pub fn monitors() -> Result<Vec<Monitor>, String> {
        let client = connect()?;
        let server = ask(client.server_info())?;
        let default_sink = text(&server.default_sink_name);
        let sinks = ask(client.list_sinks())?;
        let default_monitor = sinks
            .iter()
            .find(|s| Some(s.name.to_string_lossy().into_owned()) == default_sink)
            .and_then(|s| text(&s.monitor_source_name));
        let sources = ask(client.list_sources())?;
        Ok(sources
            .into_iter()
            .filter(|s| s.monitor_of_sink_index.is_some())
            .map(|s| {
                let source = s.name.to_string_lossy().into_owned();
                Monitor {
                    description: text(&s.description).unwrap_or_else(|| source.clone()),
                    of_default_output: default_monitor.as_deref() == Some(source.as_str()),
                    source,
                }
            })
            .collect())
    }

    /// The devices cpal's PulseAudio host offers for the monitors, in the order given.
    pub fn devices(monitors: &[Monitor]) -> Result<Vec<(Monitor, Device)>, String> {
        let host = cpal::host_from_id(cpal::HostId::PulseAudio)
            .map_err(|e| format!("{NO_SERVER} ({e})"))?;
        let sources: Vec<Device> = host
            .input_devices()
            .map_err(|e| format!("the sound server's sources cannot be listed ({e})"))?
            .collect();
        Ok(monitors
            .iter()
            .filter_map(|m| {
                let device = sources
                    .iter()
                    .find(|d| d.id().is_ok_and(|id| id.id() == m.source))?;
                Some((m.clone(), device.clone()))
            })
            .collect())
    }
}

#[cfg(not(target_os = "linux"))]
mod server {
    use super::Monitor;
    use cpal::Device;

    pub const NO_SERVER: &str = "system audio is captured from a PulseAudio or PipeWire sound server, which this system does not have; use --input FILE, or --input - for raw PCM on standard input";

    pub fn monitors() -> Result<Vec<Monitor>, String> {
        Err(NO_SERVER.into())
    }

    pub fn devices(_: &[Monitor]) -> Result<Vec<(Monitor, Device)>, String> {
        Err(NO_SERVER.into())
    }
}

/// The sound server's monitor sources (none when there is no server), with their devices.
pub fn monitor_devices() -> Result<Vec<(Monitor, Device)>, String> {
    server::devices(&server::monitors()?)
}

/// The name of the default output's monitor, if a sound server answers.
pub fn default_monitor_source() -> Option<String> {
    server::monitors()
        .ok()?
        .into_iter()
        .find(|m| m.of_default_output)
        .map(|m| m.source)
}

/// The default output's monitor: what `--input system` captures.
pub fn default_monitor() -> Result<(Monitor, Device), String> {
    let monitors = server::monitors()?;
    let Some(m) = monitors.iter().find(|m| m.of_default_output) else {
        return Err(if monitors.is_empty() {
            "the sound server has no output device to capture what it plays".to_string()
        } else {
            "the sound server has no default output device; name a monitor from `livecap devices`"
                .to_string()
        });
    };
    server::devices(std::slice::from_ref(m))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            format!(
                "the sound server lists {} but cannot capture from it",
                m.source
            )
        })
}
