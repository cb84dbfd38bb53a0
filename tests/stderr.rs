//! Standard error has one owner: silencing it (while devices are probed) and sending it to the
//! app's log file may overlap and end in any order, and it always ends up where it was.
//! (One test in its own process: descriptor 2 is the whole process's.)
#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use livecap::stderr;

/// What descriptor 2 points at now: (device, inode).
fn fd2() -> (u64, u64) {
    let m = std::fs::metadata("/proc/self/fd/2").unwrap_or_else(|e| panic!("{e}"));
    (m.dev(), m.ino())
}

fn identity(path: &Path) -> (u64, u64) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{e}"));
    (m.dev(), m.ino())
}

#[test]
fn overlapping_redirections_leave_standard_error_where_it_was() {
    let original = fd2();
    let null = identity(Path::new("/dev/null"));
    assert_ne!(
        original, null,
        "run with standard error somewhere other than /dev/null"
    );

    // Two probes at once, the first to start ending first.
    let a = stderr::hush();
    let b = stderr::hush();
    assert_eq!(fd2(), null);
    drop(a);
    assert_eq!(fd2(), null, "still silenced while the second probe runs");
    drop(b);
    assert_eq!(fd2(), original);

    // The app's log file, with a probe (the device picker) over it.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join("livecap.log");
    let to_log = stderr::to_file(Some(&log));
    assert_eq!(fd2(), identity(&log));
    let probe = stderr::hush();
    assert_eq!(fd2(), null);
    eprintln!("said while silenced");
    drop(probe);
    assert_eq!(fd2(), identity(&log), "back to the log after the probe");
    writeln!(std::io::stderr(), "said into the log").unwrap_or_else(|e| panic!("{e}"));
    // The app ends while a probe is still running: the terminal gets standard error back, and
    // the probe's end does not put the log file back.
    let late = stderr::hush();
    drop(to_log);
    assert_eq!(fd2(), null);
    drop(late);
    assert_eq!(
        fd2(),
        original,
        "a probe ending after the app put the log file back"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}"));
    assert!(logged.contains("said into the log"), "{logged}");
    assert!(!logged.contains("said while silenced"), "{logged}");

    // Real device listings from several threads at once, while capture looks for a device that
    // is not there (as a lost device is retried): each probe silences standard error in turn.
    let workers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..5 {
                    if i % 2 == 0 {
                        let _ = livecap::audio::device::list_devices(true);
                    } else {
                        let _ = livecap::audio::device::find_device("no-such-microphone");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap_or_else(|_| panic!("a listing panicked"));
    }
    assert_eq!(fd2(), original);

    // A panic message goes to the terminal whatever is alive.
    let log_again = stderr::to_file(Some(&log));
    let probe_again = stderr::hush();
    stderr::release();
    assert_eq!(fd2(), original);
    drop(probe_again);
    assert_eq!(fd2(), original);
    drop(log_again);
    assert_eq!(fd2(), original);
}
