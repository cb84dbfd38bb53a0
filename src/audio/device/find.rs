//! Finding the input device a user names: the default, an index, an exact name or a unique part
//! of one, with the closest names suggested when nothing matches.

use cpal::traits::HostTrait;
use cpal::Device;

use super::list::{probe, Probed};
use super::system::{default_monitor, SYSTEM};
use super::{device_error, host, label, quiet, NO_DEVICE};
use crate::audio::AudioError;

/// Edit distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// How far `spec` is from a device name (lower is closer), if it is close at all: a typo
/// (up to a third of the letters wrong), or a word in common.
fn closeness(spec: &str, name: &str) -> Option<usize> {
    let (spec, name) = (spec.to_lowercase(), name.to_lowercase());
    let d = edit_distance(&spec, &name);
    let typo = d * 3 <= spec.chars().count().max(3);
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_string)
            .collect()
    };
    let name_words = words(&name);
    let shared = words(&spec).iter().any(|w| {
        name_words
            .iter()
            .any(|n| n.starts_with(w.as_str()) || edit_distance(w, n) <= 1)
    });
    (typo || shared).then_some(d)
}

/// The names closest to `spec`, closest first, at most three.
fn close_matches(spec: &str, names: &[Vec<String>]) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = names
        .iter()
        .filter_map(|n| {
            let best = n.iter().filter_map(|x| closeness(spec, x)).min()?;
            Some((best, label(n)))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// The input device `spec` names: empty or `default` for the system default, `system` for what
/// the default output plays, a number for the n-th device, else an exact name or a unique part
/// of one (case does not matter).
pub fn find_device(spec: &str) -> Result<Device, AudioError> {
    if spec == SYSTEM {
        return default_monitor()
            .map(|(_, device)| device)
            .map_err(|why| device_error(spec, why));
    }
    if spec.is_empty() || spec == "default" {
        let _quiet = quiet();
        return host()
            .default_input_device()
            .ok_or_else(|| device_error(spec, NO_DEVICE));
    }
    let probed = probe();
    if !probed.iter().any(Probed::usable) {
        return Err(device_error(spec, NO_DEVICE));
    }
    if let Ok(i) = spec.parse::<usize>() {
        let usable: Vec<&Probed> = probed.iter().filter(|p| p.usable()).collect();
        return match usable.get(i) {
            Some(p) => Ok(p.device.clone()),
            None => Err(device_error(
                spec,
                format!(
                    "no input device has this index; they are numbered 0 to {}, see `livecap devices`",
                    usable.len().saturating_sub(1)
                ),
            )),
        };
    }
    let all: Vec<Vec<String>> = probed.iter().map(|p| p.names.clone()).collect();
    let pick = |i: usize| {
        probed
            .get(i)
            .map(|p| p.device.clone())
            .ok_or_else(|| device_error(spec, NO_DEVICE))
    };
    if let Some(i) = all.iter().position(|n| n.iter().any(|n| n == spec)) {
        return pick(i);
    }
    let lower = spec.to_lowercase();
    let matching: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].iter().any(|n| n.to_lowercase().contains(&lower)))
        .collect();
    match matching[..] {
        [i] => pick(i),
        [] => {
            let close = close_matches(spec, &all);
            Err(device_error(
                spec,
                if close.is_empty() {
                    "no input device has that name; `livecap devices` lists them".to_string()
                } else {
                    format!(
                        "no input device has that name; the closest are: {} (`livecap devices` lists them all)",
                        close.join(", ")
                    )
                },
            ))
        }
        _ => Err(device_error(
            spec,
            format!(
                "several input devices match: {}",
                matching
                    .iter()
                    .map(|&i| label(&all[i]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let names = vec![
            vec!["USB Headset Microphone".to_string(), "hw:1,0".to_string()],
            vec!["Built-in Audio".to_string(), "hw:0,0".to_string()],
            vec!["fakemic".to_string()],
        ];
        assert_eq!(close_matches("fakemik", &names), vec!["fakemic"]);
        assert_eq!(
            close_matches("headset", &names),
            vec!["hw:1,0 (USB Headset Microphone)"]
        );
        assert!(close_matches("zzz-qqq", &names).is_empty());
        assert_eq!(
            close_matches("my mic", &names),
            vec!["hw:1,0 (USB Headset Microphone)"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
