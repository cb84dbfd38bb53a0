//! The real binary in a real terminal: tmux runs `livecap` with a recording as its input, and
//! the test reads the screen and presses keys as a person would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use livecap_eval::wer::{normalize, WerCount};

/// A private tmux server with one window running a command.
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(width: u16, height: u16, command: &str) -> Tmux {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("tmux.sock");
        let conf = dir.path().join("tmux.conf");
        // The window stays after the program exits, so its exit status and screen can be read.
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").expect("conf");
        let t = Tmux { socket, _dir: dir };
        let ok = t
            .cmd()
            .args(["-f"])
            .arg(&conf)
            .args(["new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "tmux could not start (is tmux installed? scripts/test installs it)"
        );
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn out(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.out(&["capture-pane", "-p", "-t", "t"])
    }

    /// The screen with everything scrolled off it.
    fn everything(&self) -> String {
        self.out(&["capture-pane", "-p", "-S", "-", "-t", "t"])
    }

    fn keys(&self, keys: &str) {
        self.out(&["send-keys", "-t", "t", keys]);
    }

    /// Esc, then wait until what it closes (the screen holding `open`) is gone: Esc followed
    /// at once by another key reaches the app as one Alt chord.
    fn escape(&self, open: &str) {
        self.keys("Escape");
        let (ok, screen) = self.wait_for(Duration::from_secs(10), |s| !s.contains(open));
        assert!(ok, "Esc did not close {open:?}:\n{screen}");
    }

    fn show(&self, format: &str) -> String {
        self.out(&["display-message", "-p", "-t", "t", format])
            .trim()
            .to_string()
    }

    /// Wait until `ok` holds for the screen; the last screen either way.
    fn wait_for(&self, timeout: Duration, ok: impl Fn(&str) -> bool) -> (bool, String) {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return (true, s);
            }
            if t0.elapsed() > timeout {
                return (false, s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// livecap's exit status, once it has exited (the shell prints it, then runs `cat`).
    fn exit_status(&self, timeout: Duration) -> Option<i32> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            let all = self.everything();
            if let Some(line) = all.lines().find(|l| l.starts_with(EXIT_MARK)) {
                // What the program printed last may share the line.
                let digits: String = line[EXIT_MARK.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                return digits.parse().ok();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.out(&["kill-server"]);
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

const EXIT_MARK: &str = "livecap-exit=";

/// The command line for `livecap ARGS` with its data and config in `home`. After it, the shell
/// prints its exit status and runs `cat`, which echoes what is typed only if the terminal was
/// given back in its normal mode.
fn livecap_cmd(home: &Path, args: &str) -> String {
    format!(
        "env -u NO_COLOR -u LIVECAP_MODEL LIVECAP_DATA_DIR={} LIVECAP_CONFIG_DIR={} {} {args}; \
         echo {EXIT_MARK}$?; exec cat",
        shell_quote(&home.join("data")),
        shell_quote(&home.join("config")),
        shell_quote(Path::new(env!("CARGO_BIN_EXE_livecap"))),
    )
}

/// The words in the caption pane (the left pane, between its borders).
fn caption_words(screen: &str) -> Vec<String> {
    let mut text = String::new();
    for line in screen.lines() {
        let Some(rest) = line.strip_prefix('│') else {
            continue;
        };
        let pane = rest.split('│').next().unwrap_or("");
        text.push_str(pane);
        text.push(' ');
    }
    normalize(&text)
}

/// Word error rate of `words` against the start of `reference` of the same length.
fn prefix_wer(reference: &str, words: &[String]) -> f64 {
    let r = normalize(reference);
    let n = words.len().min(r.len());
    WerCount::of(&r[..n].join(" "), &words.join(" ")).rate()
}

/// Off the alternate screen, cursor shown, and typed text echoed (not raw mode).
fn assert_terminal_restored(tmux: &Tmux) {
    assert_eq!(
        tmux.show("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(
        tmux.show("#{cursor_flag}"),
        "1",
        "the cursor is still hidden"
    );
    tmux.keys("typed-back");
    tmux.keys("Enter");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(5), |s| {
        s.matches("typed-back").count() >= 2
    });
    assert!(
        ok,
        "the terminal did not echo and end the line (still raw?):\n{screen}"
    );
}

#[test]
fn words_appear_keys_work_and_q_restores_the_terminal() {
    let home = tempfile::tempdir().expect("temp dir");
    let model = common::model_dir();
    let cmd = livecap_cmd(
        home.path(),
        &format!(
            "--input {} --model {}",
            shell_quote(&common::long_wav()),
            shell_quote(&model)
        ),
    );
    let tmux = Tmux::start(100, 30, &cmd);
    let reference = common::long_reference();

    // The words appear as they are spoken.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(120), |s| caption_words(s).len() >= 25);
    assert!(ok, "fewer than 25 words after 120 s:\n{screen}");
    let words = caption_words(&screen);
    let wer = prefix_wer(&reference, &words);
    assert!(wer <= 0.25, "WER {wer:.3} for {words:?}");
    assert!(screen.contains("mode: last 5 s"), "{screen}");
    assert!(screen.contains("● REC"), "{screen}");

    // `m` switches the mode label at once.
    tmux.keys("m");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(2), |s| s.contains("mode: full history"));
    assert!(ok, "the mode label did not change:\n{screen}");

    // `?` shows the help, Esc closes it.
    tmux.keys("?");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(2), |s| {
        s.contains("Keys") && s.contains("pause/resume") && s.contains("new session")
    });
    assert!(ok, "no help:\n{screen}");
    tmux.keys("Escape");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(2), |s| !s.contains("pause/resume"));
    assert!(ok, "the help stayed:\n{screen}");

    // Usable at 80x24: the header, the captions and the hints are all there.
    tmux.out(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    let (ok, screen) = tmux.wait_for(Duration::from_secs(3), |s| {
        s.lines().count() <= 24
            && s.lines().all(|l| l.chars().count() <= 80)
            && s.contains("mode: full history")
            && s.contains("? help")
            && caption_words(s).len() >= 10
    });
    assert!(ok, "not usable at 80x24:\n{screen}");

    // `q` quits with status 0, the terminal given back as it was, and the transcript on disk.
    tmux.keys("q");
    let status = tmux.exit_status(Duration::from_secs(60));
    let screen = tmux.everything();
    assert_eq!(status, Some(0), "{screen}");
    assert_terminal_restored(&tmux);
    assert!(screen.contains("the transcript is in"), "{screen}");
    let sessions: Vec<PathBuf> = std::fs::read_dir(home.path().join("data/sessions"))
        .expect("sessions dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let saved = std::fs::read_to_string(sessions[0].join("transcript.jsonl")).expect("transcript");
    let saved_words: Vec<String> = saved
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["text"].as_str().unwrap_or("").to_string()
        })
        .flat_map(|t| normalize(&t))
        .collect();
    assert!(saved_words.len() >= 25, "{saved_words:?}");
    let wer = prefix_wer(&reference, &saved_words);
    assert!(wer <= 0.25, "saved WER {wer:.3}");
}

#[test]
fn a_missing_input_is_one_sentence_and_the_terminal_is_untouched() {
    let home = tempfile::tempdir().expect("temp dir");
    let cmd = livecap_cmd(
        home.path(),
        &format!(
            "--input {} --model {}",
            shell_quote(&home.path().join("missing.wav")),
            shell_quote(&common::model_dir())
        ),
    );
    let tmux = Tmux::start(80, 24, &cmd);
    let status = tmux.exit_status(Duration::from_secs(30));
    let screen = tmux.everything();
    assert_eq!(status, Some(1), "{screen}");
    assert_terminal_restored(&tmux);
    let said: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with("livecap:"))
        .collect();
    assert_eq!(said.len(), 1, "{screen}");
    assert!(said[0].contains("missing.wav"), "{screen}");
}

#[test]
fn without_a_microphone_the_app_opens_on_the_device_picker_and_says_how_to_caption_a_file() {
    let home = tempfile::tempdir().expect("temp dir");
    // A sound system whose only device is ALSA's null one: there is no default to open.
    let alsa = home.path().join("asoundrc");
    std::fs::write(&alsa, "pcm.null {\n    type null\n}\n").expect("asoundrc");
    let cmd = livecap_cmd(
        home.path(),
        &format!("--model {}", shell_quote(&common::model_dir())),
    );
    let cmd = format!("ALSA_CONFIG_PATH={} {cmd}", shell_quote(&alsa));
    let tmux = Tmux::start(80, 24, &cmd);
    let (ok, screen) = tmux.wait_for(Duration::from_secs(60), |s| {
        s.contains("Input device")
            && !s.contains("Looking for input devices")
            && s.contains("no microphone")
    });
    assert!(ok, "no device picker with the reason:\n{screen}");
    let said = screen
        .lines()
        .find(|l| l.contains("no microphone"))
        .unwrap_or_default();
    assert!(said.contains("--input FILE"), "{screen}");
    // The picker closes and the app quits as usual, giving the terminal back.
    tmux.escape("Input device");
    tmux.keys("q");
    let status = tmux.exit_status(Duration::from_secs(30));
    assert_eq!(status, Some(0), "{}", tmux.everything());
    assert_terminal_restored(&tmux);
}

/// The words of a session's transcript on disk, in order.
fn saved_words(transcript: &Path) -> Vec<String> {
    std::fs::read_to_string(transcript)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| normalize(v["text"].as_str().unwrap_or("")))
        .collect()
}

/// The transcript of the one session recorded under `home`, once there is one.
fn only_transcript(home: &Path) -> Option<PathBuf> {
    let dir = std::fs::read_dir(home.join("data/sessions"))
        .ok()?
        .filter_map(Result::ok)
        .next()?;
    Some(dir.path().join("transcript.jsonl"))
}

/// `livecap` captioning the LJSpeech reading with `LIVECAP_PANIC` set to `place` (a panic the
/// test builds make on request: see `src/faults.rs`).
fn panicking_app(home: &Path, place: &str) -> Tmux {
    if !cfg!(feature = "fault-injection") {
        panic!("this test needs the `fault-injection` feature (scripts/test turns it on)");
    }
    let cmd = livecap_cmd(
        home,
        &format!(
            "--input {} --model {}",
            shell_quote(&common::long_wav()),
            shell_quote(&common::model_dir())
        ),
    );
    Tmux::start(100, 30, &format!("LIVECAP_PANIC={place} {cmd}"))
}

#[test]
fn an_engine_panic_keeps_the_screen_and_says_so() {
    let home = tempfile::tempdir().expect("temp dir");
    let tmux = panicking_app(home.path(), "engine");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(120), |s| {
        s.contains("an internal error stopped the captions")
    });
    assert!(ok, "no word of the engine's panic on the screen:\n{screen}");
    // The app is still there, on its own screen, with the words committed before the panic.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tmux.show("#{alternate_on}"), "1", "the screen was given up");
    let screen = tmux.screen();
    assert!(screen.contains("Captions"), "{screen}");
    let saved = only_transcript(home.path())
        .map(|p| saved_words(&p))
        .unwrap_or_default();
    assert!(!saved.is_empty(), "nothing committed before the panic");
    let shown = caption_words(&screen);
    assert!(
        saved.iter().all(|w| shown.contains(w)),
        "saved {saved:?}, shown {shown:?}"
    );
    tmux.keys("q");
    assert!(
        tmux.exit_status(Duration::from_secs(30)).is_some(),
        "{}",
        tmux.everything()
    );
    assert_terminal_restored(&tmux);
}

#[test]
fn a_panic_in_the_app_gives_the_terminal_back_and_prints_its_message() {
    let home = tempfile::tempdir().expect("temp dir");
    let tmux = panicking_app(home.path(), "ui");
    let status = tmux.exit_status(Duration::from_secs(120));
    let everything = tmux.everything();
    assert_eq!(status, Some(101), "{everything}");
    assert_terminal_restored(&tmux);
    assert!(
        everything.contains("LIVECAP_PANIC=ui"),
        "the panic's message is not on the terminal:\n{everything}"
    );
    // What was committed before the panic is on disk.
    let saved = only_transcript(home.path())
        .map(|p| saved_words(&p))
        .unwrap_or_default();
    assert!(!saved.is_empty(), "nothing saved");
}

#[test]
fn a_hangup_mid_sentence_leaves_subtitles_with_every_committed_word() {
    let home = tempfile::tempdir().expect("temp dir");
    let cmd = livecap_cmd(
        home.path(),
        &format!(
            "--input {} --model {}",
            shell_quote(&common::long_wav()),
            shell_quote(&common::model_dir())
        ),
    );
    let tmux = Tmux::start(100, 30, &cmd);
    // Wait for some committed words and a tentative tail after them: mid-sentence.
    let t0 = Instant::now();
    let (path, before) = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no words committed"
        );
        if let Some(p) = only_transcript(home.path()) {
            let words = saved_words(&p);
            let on_screen = caption_words(&tmux.screen());
            if words.len() >= 20 && on_screen.len() > words.len() {
                break (p, words);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The terminal goes away: tmux hangs up on the program.
    tmux.out(&["kill-server"]);
    let meta = path.with_file_name("session.json");
    let closed = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&meta)
            .is_ok_and(|m| m.contains("\"ended\": ") && !m.contains("\"ended\": null"))
    });
    assert!(closed, "the session was not closed after the hangup");
    let id = path
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .expect("session id");
    let srt = home.path().join("out.srt");
    let o = common::livecap_command()
        .env("LIVECAP_DATA_DIR", home.path().join("data"))
        .args(["sessions", "export", &id, "--format", "srt", "--output"])
        .arg(&srt)
        .output()
        .expect("livecap");
    assert!(o.status.success(), "{}", common::stderr(&o));
    let back = home.path().join("back.srt");
    assert!(
        common::ffmpeg(&["-i", &srt.to_string_lossy(), &back.to_string_lossy()]),
        "ffmpeg does not accept the subtitles"
    );
    let subtitle_text: String = std::fs::read_to_string(&srt)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains("-->") && l.parse::<u32>().is_err())
        .collect::<Vec<_>>()
        .join(" ");
    let exported = normalize(&subtitle_text);
    assert!(
        exported.len() >= before.len() && exported[..before.len()] == before[..],
        "words committed before the hangup are missing\nbefore: {before:?}\nexported: {exported:?}"
    );
}

/// Two minutes of silence to give the app as its input, in `dir`.
fn silence_wav(dir: &Path) -> PathBuf {
    let silence = dir.join("silence.wav");
    assert!(common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "120",
        &silence.to_string_lossy(),
    ]));
    silence
}

/// The app on silence, not saving (`env` set before it), with the newest past session opened
/// in the viewer.
fn app_viewing_the_past_session(home: &Path, env: &str) -> Tmux {
    let cmd = livecap_cmd(
        home,
        &format!(
            "--no-save --input {} --model {}",
            shell_quote(&silence_wav(home)),
            shell_quote(&common::model_dir())
        ),
    );
    let tmux = Tmux::start(100, 30, &format!("{env} {cmd}"));
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| s.contains("past sessions"));
    assert!(ok, "no past sessions listed:\n{screen}");
    for k in ["Tab", "g", "j", "Enter"] {
        tmux.keys(k);
    }
    tmux
}

#[test]
fn a_past_session_another_livecap_is_recording_opens_live_in_the_viewer() {
    let home = tempfile::tempdir().expect("temp dir");
    let data = home.path().join("data");
    // Another livecap records the first four sentences of the long recording (27 s) in real time.
    let reading = home.path().join("reading.wav");
    assert!(common::ffmpeg(&[
        "-i",
        &common::long_wav().to_string_lossy(),
        "-t",
        "27.4",
        &reading.to_string_lossy(),
    ]));
    let mut stream = common::livecap_command()
        .env("LIVECAP_DATA_DIR", &data)
        .arg("stream")
        .arg("--model")
        .arg(common::model_dir())
        .arg("--input")
        .arg(&reading)
        .args(["--clock", "realtime"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("livecap stream");
    let t0 = Instant::now();
    let path = loop {
        assert!(t0.elapsed() < Duration::from_secs(60), "nothing recorded");
        if let Some(p) = only_transcript(home.path()).filter(|p| !saved_words(p).is_empty()) {
            break p;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = saved_words(&path);

    // The app lists it among the past sessions; it is opened.
    let tmux = app_viewing_the_past_session(home.path(), "");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(10), |s| s.contains("being recorded"));
    assert!(ok, "the session did not open live:\n{screen}");
    // Words saved after it was opened appear in the viewer as they are saved. The viewer's
    // text is columns 4 to 95 of rows 3 to 26 at 100x30; a line starting without a time
    // carries on the one before.
    let viewer_words = |s: &str| -> Vec<String> {
        let mut text = String::new();
        for row in s.lines().skip(3).take(24) {
            let inner: String = row.chars().skip(4).take(92).collect();
            let b = inner.as_bytes();
            let after_time = (b.len() > 14 && b[2] == b':' && b[8] == b'.')
                .then(|| inner.get(12..).and_then(|r| r.strip_prefix("  ")))
                .flatten();
            text.push(' ');
            text.push_str(after_time.unwrap_or(&inner));
        }
        normalize(&text)
    };
    let (ok, screen) = tmux.wait_for(Duration::from_secs(60), |s| {
        viewer_words(s).len() > first.len() + 5
    });
    assert!(ok, "no new lines in the viewer:\n{screen}");
    // When the recording ends, the viewer says so and holds every saved word.
    let status = stream.wait().expect("livecap stream");
    assert!(status.success());
    let (ok, screen) = tmux.wait_for(Duration::from_secs(10), |s| {
        !s.contains("being recorded") && viewer_words(s) == saved_words(&path)
    });
    assert!(
        ok,
        "the viewer does not show the whole session:\n{screen}\n{:?}",
        saved_words(&path)
    );
    tmux.escape("Session 20");
    tmux.keys("q");
    assert_eq!(tmux.exit_status(Duration::from_secs(30)), Some(0));
}

#[test]
fn a_line_of_a_past_session_is_heard_again_from_the_viewer() {
    let home = tempfile::tempdir().expect("temp dir");
    let data = home.path().join("data");
    // A session kept with its audio: a dev recording, captioned on the stepped clock.
    let clip = common::dev_set()
        .into_iter()
        .map(|(wav, _)| wav)
        .find(|w| w.to_string_lossy().contains("LJ050-0131"))
        .expect("the dev recording LJ050-0131");
    let recorded = common::livecap_command()
        .env("LIVECAP_DATA_DIR", &data)
        .arg("stream")
        .arg("--model")
        .arg(common::model_dir())
        .arg("--input")
        .arg(&clip)
        .args(["--clock", "stepped", "--keep-audio"])
        .output()
        .expect("livecap stream");
    assert!(recorded.status.success(), "{}", common::stderr(&recorded));
    let transcript = only_transcript(home.path()).expect("a session");
    let kept = livecap::audio::load_file(&transcript.with_file_name("audio.wav"))
        .expect("kept audio")
        .samples;

    // The app, on a machine whose default output is a sink whose sound is recorded.
    let server = common::sound::SoundServer::start(&[]);
    server.plug("speakers");
    server.make_default_output("speakers");
    let heard_path = home.path().join("heard.raw");
    let mut recorder = server.record("speakers.monitor", &heard_path);
    let tmux = app_viewing_the_past_session(
        home.path(),
        &format!(
            "PULSE_SERVER={} ALSA_CONFIG_PATH={}",
            server.pulse_server(),
            server.alsa_path()
        ),
    );
    let (ok, screen) = tmux.wait_for(Duration::from_secs(10), |s| s.contains("Session 20"));
    assert!(ok, "the session did not open:\n{screen}");
    tmux.keys("p");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(10), |s| s.contains("playing from"));
    assert!(ok, "p did not play the top line:\n{screen}");
    // It plays to its end (8 s), and the viewer says so.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(30), |s| !s.contains("playing from"));
    assert!(ok, "the playing did not end:\n{screen}");
    std::thread::sleep(Duration::from_millis(300));
    recorder.kill().ok();
    recorder.wait().ok();
    tmux.escape("Session 20");
    tmux.keys("q");
    assert_eq!(tmux.exit_status(Duration::from_secs(30)), Some(0));

    // What the output played holds the kept audio (from its first line's time, which is
    // within the first second), sample for sample: half a second of it, in eight pieces found
    // one after another, one of which may be missing (a loaded machine's sink may record a
    // short gap between two periods; wrong or unplayed audio matches none).
    let heard: Vec<f32> = std::fs::read(&heard_path)
        .expect("recorded")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0)
        .collect();
    let (mut from, mut found) = (0, 0);
    for piece in kept[32_000..40_000].chunks(1_000) {
        let at = (from..heard.len().saturating_sub(piece.len())).find(|&i| {
            heard[i..i + piece.len()]
                .iter()
                .zip(piece)
                .all(|(a, b)| (a - b).abs() <= 1.5 / 32_768.0)
        });
        if let Some(at) = at {
            (from, found) = (at + piece.len(), found + 1);
        }
    }
    assert!(
        found >= 7,
        "the session's audio was not played: {found} of 8 pieces heard in order"
    );
}
