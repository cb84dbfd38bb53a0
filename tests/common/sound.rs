//! A private PulseAudio server with null sinks, and ALSA capture devices on their monitors, so the
//! real capture path (cpal, ALSA, the pulse plugin) runs on a machine with no sound card. A device
//! can play a raw recording (16-bit, 16 kHz, mono) from the moment it is opened, paced by the
//! server like a real microphone, and be unplugged by unloading its sink.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

const PULSE_PLUGIN: &str = "libasound_module_pcm_pulse.so";

/// Servers running, with their directories: stopped and removed when the test program exits,
/// also those kept in a `static` (which is never dropped).
static RUNNING: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn stop_servers_at_exit() {
    let servers = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    for (pid, dir) in servers {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        // SAFETY: the pid is our own child's, not yet waited for (so not reused).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Tests of one test program that run the model in real time take turns, so that none of them
/// starves another of the two cores and falls behind.
pub fn model_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SoundServer {
    dir: tempfile::TempDir,
    child: Child,
    socket: PathBuf,
    /// The ALSA configuration to point `ALSA_CONFIG_PATH` at (see [`SoundServer::alsa_path`]).
    pub asoundrc: PathBuf,
}

/// A test microphone: its ALSA name and what it plays.
pub struct Mic<'a> {
    pub name: &'a str,
    pub plays: Option<&'a Path>,
}

fn have_pulse_plugin() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/alsa-lib",
        "/usr/lib/aarch64-linux-gnu/alsa-lib",
        "/usr/lib/alsa-lib",
        "/usr/lib64/alsa-lib",
    ]
    .iter()
    .any(|d| Path::new(d).join(PULSE_PLUGIN).is_file())
}

impl SoundServer {
    /// Start a server with one null sink per microphone, and write the ALSA devices for them.
    pub fn start(mics: &[Mic]) -> SoundServer {
        let found = |cmd: &str| {
            Command::new(cmd)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        assert!(
            found("pulseaudio") && found("pactl") && have_pulse_plugin(),
            "the capture tests need the Debian packages pulseaudio, pulseaudio-utils and libasound2-plugins (scripts/test installs them)"
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.path().join("native");
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--log-target=stderr",
                "--log-level=error",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting pulseaudio: {e}"));
        static AT_EXIT: Once = Once::new();
        // SAFETY: registers a plain function, run once at exit.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(stop_servers_at_exit);
        });
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((child.id(), dir.path().to_path_buf()));
        let server = SoundServer {
            asoundrc: dir.path().join("asoundrc"),
            dir,
            child,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.try_pactl(&["info"]).0 {
            assert!(
                Instant::now() < deadline,
                "pulseaudio did not start in 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut conf = String::new();
        for mic in mics {
            server.plug(mic.name);
            let source = format!(
                "    type pulse\n    server \"unix:{}\"\n    device \"{}.monitor\"\n",
                server.socket.display(),
                mic.name
            );
            match mic.plays {
                Some(raw) => conf.push_str(&format!(
                    "pcm.{name} {{\n    type file\n    slave.pcm \"{name}_source\"\n    file \"/dev/null\"\n    infile \"{}\"\n    format \"raw\"\n    hint.description \"Test microphone {name}\"\n}}\npcm.{name}_source {{\n{source}    hint.show off\n}}\n",
                    raw.display(),
                    name = mic.name
                )),
                None => conf.push_str(&format!(
                    "pcm.{} {{\n{source}    hint.description \"Test microphone {}\"\n}}\n",
                    mic.name, mic.name
                )),
            }
        }
        std::fs::write(&server.asoundrc, conf).unwrap_or_else(|e| panic!("{e}"));
        server
    }

    /// The value for `ALSA_CONFIG_PATH`: the system's configuration, then these devices.
    pub fn alsa_path(&self) -> String {
        format!("/usr/share/alsa/alsa.conf:{}", self.asoundrc.display())
    }

    fn try_pactl(&self, args: &[&str]) -> (bool, String) {
        match Command::new("pactl")
            .arg(format!("--server=unix:{}", self.socket.display()))
            .args(args)
            .env("HOME", self.dir.path())
            .stderr(Stdio::null())
            .output()
        {
            Ok(o) => (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            ),
            Err(_) => (false, String::new()),
        }
    }

    fn pactl(&self, args: &[&str]) -> String {
        let (ok, out) = self.try_pactl(args);
        assert!(ok, "pactl {args:?} failed");
        out
    }

    /// Plug a microphone in: its sink (and so its monitor source) exists.
    pub fn plug(&self, name: &str) {
        self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={name}"),
            "format=s16le",
            "rate=16000",
            "channels=1",
        ]);
    }

    /// Load a server module (`module-loopback source=… sink=…`).
    pub fn load_module(&self, args: &[&str]) {
        let mut all = vec!["load-module"];
        all.extend_from_slice(args);
        self.pactl(&all);
    }

    /// Set the sink `name`'s volume (`"35%"`): what its monitor gives is that much quieter.
    pub fn set_sink_volume(&self, name: &str, volume: &str) {
        self.pactl(&["set-sink-volume", name, volume]);
    }

    /// The value for `PULSE_SERVER`: what a sound-server client connects to.
    pub fn pulse_server(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// Make the sink `name` the default output (what `--input system` captures).
    pub fn make_default_output(&self, name: &str) {
        self.pactl(&["set-default-sink", name]);
    }

    /// Play a raw recording (16-bit, 16 kHz, mono) into the sink `name`, as an application
    /// would: `paplay`, paced by the server, running until the recording ends.
    pub fn play(&self, name: &str, raw: &Path) -> Child {
        Command::new("paplay")
            .arg(format!("--server={}", self.pulse_server()))
            .arg(format!("--device={name}"))
            .args(["--raw", "--format=s16le", "--rate=16000", "--channels=1"])
            .arg(raw)
            .env("HOME", self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("paplay: {e}"))
    }

    /// Record what the source `name` gives (a sink's monitor, `<sink>.monitor`) into `out` as
    /// raw 16-bit 16 kHz mono, until the returned process is killed; returns once recording
    /// has begun.
    pub fn record(&self, name: &str, out: &Path) -> Child {
        let file = std::fs::File::create(out).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("parec")
            .arg(format!("--server={}", self.pulse_server()))
            .arg(format!("--device={name}"))
            .args(["--raw", "--format=s16le", "--rate=16000", "--channels=1"])
            .env("HOME", self.dir.path())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("parec: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(out).map_or(0, |m| m.len()) < 3_200 {
            assert!(Instant::now() < deadline, "parec recorded nothing in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Pull a microphone out: its sink goes, and whoever records from it gets an error.
    pub fn unplug(&self, name: &str) {
        let modules = self.pactl(&["list", "short", "modules"]);
        let id = modules
            .lines()
            .find(|l| {
                l.contains(&format!("sink_name={name} "))
                    || l.ends_with(&format!("sink_name={name}"))
            })
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no sink {name} to unplug in:\n{modules}"))
            .to_string();
        self.pactl(&["unload-module", &id]);
    }
}

/// `livecap stream` on a live input of a test server, its JSON lines collected with when each
/// arrived.
pub struct Running {
    child: Child,
    started: Instant,
    lines: Arc<Mutex<Vec<(f64, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Start `livecap stream --input INPUT` (more arguments after it) with the server's devices.
    pub fn start(input: &str, server: &SoundServer) -> Running {
        Running::start_with(&["--input", input], server)
    }

    pub fn start_with(args: &[&str], server: &SoundServer) -> Running {
        let mut child = super::livecap_command()
            .args(["stream", "--format", "jsonl"])
            .args(args)
            .arg("--model")
            .arg(super::model_dir())
            .env_remove("LIVECAP_MODEL")
            .env("ALSA_CONFIG_PATH", server.alsa_path())
            .env("PULSE_SERVER", server.pulse_server())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running livecap: {e}"));
        let started = Instant::now();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            let Some(out) = out else { return };
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push((started.elapsed().as_secs_f64(), line));
                }
            }
        });
        Running {
            child,
            started,
            lines,
            reader: Some(reader),
        }
    }

    /// The JSON lines so far, with when each arrived.
    pub fn lines(&self) -> Vec<(f64, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Sleep until `secs` after the start; livecap must still be running.
    pub fn sleep_until(&mut self, secs: f64) {
        let due = self.started + Duration::from_secs_f64(secs);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).ok();
            }
            panic!("livecap ended early ({status}): {err}");
        }
    }

    /// SIGTERM, then every event in order.
    pub fn stop(
        mut self,
    ) -> (
        std::process::ExitStatus,
        String,
        Vec<(f64, livecap::stream::Event)>,
    ) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(killed, "could not signal livecap");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).ok();
        }
        let status = self.child.wait().unwrap_or_else(|e| panic!("{e}"));
        if let Some(r) = self.reader.take() {
            r.join().ok();
        }
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        let events = lines
            .iter()
            .map(|(t, l)| {
                (
                    *t,
                    serde_json::from_str::<livecap::stream::Event>(l)
                        .unwrap_or_else(|e| panic!("not an event ({e}): {l}")),
                )
            })
            .collect();
        (status, err, events)
    }
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.0 != self.child.id());
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The first `seconds` of `wav` as raw 16-bit 16 kHz mono, written to `out`; with its samples as
/// the engine sees them.
pub fn raw_clip(wav: &Path, start: f64, seconds: f64, out: &Path) -> Vec<f32> {
    assert!(
        super::ffmpeg(&[
            "-ss",
            &start.to_string(),
            "-i",
            wav.to_str().unwrap_or_default(),
            "-t",
            &seconds.to_string(),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "16000",
            out.to_str().unwrap_or_default(),
        ]),
        "ffmpeg could not write {}",
        out.display()
    );
    std::fs::read(out)
        .unwrap_or_else(|e| panic!("{e}"))
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0)
        .collect()
}
