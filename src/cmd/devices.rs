//! `livecap devices`: the audio input devices, one per line.

use anyhow::Result;

use crate::audio::device::{list_devices, NO_DEVICE};

pub fn run(all: bool) -> Result<bool> {
    let devices = list_devices(all);
    if devices.is_empty() {
        crate::stderr::say(NO_DEVICE);
        return Ok(false);
    }
    let mut heading = false;
    for d in &devices {
        if d.system && !heading {
            heading = true;
            println!("System audio (what an output plays; --input system captures the default output's):");
        }
        println!("{d}");
    }
    Ok(true)
}
