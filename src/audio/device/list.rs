//! Listing input devices and what they offer for capture (`livecap devices`, the app's picker).

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::Device;

use super::system::monitor_devices;
use super::{host, names_of, quiet};

/// A device and what it offers for capture.
pub(super) struct Probed {
    pub device: Device,
    pub names: Vec<String>,
    pub configs: Result<Vec<cpal::SupportedStreamConfigRange>, String>,
    /// A monitor of an output (system audio), and whether it is the default output's.
    pub system: Option<bool>,
}

impl Probed {
    pub fn usable(&self) -> bool {
        self.configs.as_ref().is_ok_and(|c| !c.is_empty())
    }
}

/// Every input device the system names, with its capture formats (or why they cannot be read),
/// then the sound server's monitors of its outputs (system audio), if there is a server.
pub(super) fn probe() -> Vec<Probed> {
    let _quiet = quiet();
    let configs = |device: &Device| {
        device
            .supported_input_configs()
            .map(|c| c.collect())
            .map_err(|e| e.to_string())
    };
    let mut probed: Vec<Probed> = host()
        .input_devices()
        .map(|it| it.collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|device| Probed {
            names: names_of(&device),
            configs: configs(&device),
            device,
            system: None,
        })
        .collect();
    for (monitor, device) in monitor_devices().unwrap_or_default() {
        probed.push(Probed {
            names: vec![monitor.description, monitor.source],
            configs: configs(&device),
            device,
            system: Some(monitor.of_default_output),
        });
    }
    probed
}

/// One line of `livecap devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What `device:INDEX` selects (devices that cannot capture have none).
    pub index: Option<usize>,
    /// The short name to pass to `device:` (for ALSA, the PCM name).
    pub name: String,
    /// The system's longer description, when there is one.
    pub description: Option<String>,
    pub is_default: bool,
    /// A monitor of an output (system audio), not a microphone.
    pub system: bool,
    /// Channel counts it offers for capture.
    pub channels: Vec<(u32, u32)>,
    /// Sample-rate ranges it offers for capture, in Hz.
    pub rates: Vec<(u32, u32)>,
    /// Why it cannot capture (busy, unplugged, a plugin with no server).
    pub unavailable: Option<String>,
}

/// Input devices: those that can capture, numbered as `device:INDEX` counts them, then (with
/// `all`) those that cannot, unnumbered; the monitors of outputs (system audio) come last.
pub fn list_devices(all: bool) -> Vec<DeviceInfo> {
    let default_names = {
        let _quiet = quiet();
        host().default_input_device().map(|d| names_of(&d))
    };
    let mut usable = 0;
    let mut out = Vec::new();
    for p in probe() {
        let (name, description) = match &p.names[..] {
            [desc, id, ..] => (id.clone(), Some(desc.replace('\n', " - "))),
            [one] => (one.clone(), None),
            [] => ("(unnamed)".to_string(), None),
        };
        let mut info = DeviceInfo {
            index: None,
            name,
            description,
            is_default: match p.system {
                Some(of_default_output) => of_default_output,
                None => default_names
                    .as_ref()
                    .is_some_and(|d| d.last() == p.names.last()),
            },
            system: p.system.is_some(),
            channels: Vec::new(),
            rates: Vec::new(),
            unavailable: None,
        };
        match &p.configs {
            Ok(configs) if !configs.is_empty() => {
                info.index = Some(usable);
                usable += 1;
                let ch: Vec<(u32, u32)> = configs
                    .iter()
                    .map(|c| (c.channels() as u32, c.channels() as u32))
                    .collect();
                info.channels = merge_ranges(&ch);
                let rates: Vec<(u32, u32)> = configs
                    .iter()
                    .map(|c| (c.min_sample_rate(), c.max_sample_rate()))
                    .collect();
                info.rates = merge_ranges(&rates);
            }
            Ok(_) => info.unavailable = Some("it offers no capture format".into()),
            Err(e) => info.unavailable = Some(e.clone()),
        }
        if info.index.is_some() || all {
            out.push(info);
        }
    }
    out
}

fn ranges(r: &[(u32, u32)]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                format!("{a}")
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "{i:>3}  {}", self.name)?,
            None => write!(f, "  -  {}", self.name)?,
        }
        if self.is_default {
            if self.system {
                write!(f, "  [--input system]")?;
            } else {
                write!(f, "  [default]")?;
            }
        }
        match &self.unavailable {
            Some(why) => write!(f, "  unavailable: {why}")?,
            None => write!(
                f,
                "  {} ch  {} Hz",
                ranges(&self.channels),
                ranges(&self.rates)
            )?,
        }
        if let Some(d) = &self.description {
            write!(f, "  ({d})")?;
        }
        Ok(())
    }
}

/// Overlapping or touching ranges joined.
fn merge_ranges(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_ranges_merge() {
        assert_eq!(
            merge_ranges(&[(44_100, 48_000), (8_000, 16_000), (16_000, 44_100)]),
            vec![(8_000, 48_000)]
        );
        assert_eq!(
            merge_ranges(&[(48_000, 48_000), (16_000, 16_000)]),
            vec![(16_000, 16_000), (48_000, 48_000)]
        );
    }
}
