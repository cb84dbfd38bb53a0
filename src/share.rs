//! The captions as a read-only web page, for readers on other devices: `--share [ADDR]` serves
//! one page and its stream of caption events (Server-Sent Events) at a URL holding a random
//! token; anything else gets 404. Committed pieces are numbered, so a page that reconnects
//! resumes after the last one it saw. Readers pull from one shared board: none has a queue of
//! its own, so a slow or stalled reader never delays the captions nor grows memory, and there
//! are at most [`MAX_READERS`] at once.

use std::convert::Infallible;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::stream::Event;
use crate::transcript::ends_sentence;

/// Where `--share` without an address serves: this machine only, on a free port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";
/// Readers at once; more get 503 until one leaves.
pub const MAX_READERS: usize = 256;
/// The page, with its style and script.
const PAGE: &str = include_str!("share/page.html");
/// Pieces sent to a reader before it looks for news again.
const BATCH: usize = 64;

/// Why the captions cannot be shared.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("--share {addr}: {reason}")]
    Address { addr: String, reason: String },
    #[error("--share {addr}: cannot listen there ({source})")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("--share: cannot start the web server ({0})")]
    Start(std::io::Error),
}

/// One committed piece of caption text.
#[derive(Debug, Clone, Serialize)]
struct Piece {
    text: String,
    /// A line ends after it (a sentence ended, or the speech broke off).
    close: bool,
}

/// What every reader reads.
#[derive(Debug, Default)]
struct Captions {
    pieces: Vec<Piece>,
    tentative: String,
    ended: bool,
    /// With two inputs captioned apart: which one the last piece is from, which one's tail is
    /// shown, and which have ended.
    speaker: Option<usize>,
    tentative_from: Option<usize>,
    lanes_ended: [bool; 2],
}

/// The captions shared with the page's readers.
#[derive(Debug)]
pub struct Board {
    captions: Mutex<Captions>,
    /// Bumped at every change; readers wait on it.
    changed: watch::Sender<u64>,
}

impl Board {
    fn new() -> Board {
        Board {
            captions: Mutex::new(Captions::default()),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Captions> {
        // A reader that panicked leaves nothing half-changed: its state is plain data.
        self.captions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Committed text; a piece ending a sentence ends its line.
    pub fn commit(&self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let close = text.split_whitespace().last().is_some_and(ends_sentence);
        self.lock().pieces.push(Piece {
            text: text.to_string(),
            close,
        });
        self.changed();
    }

    /// The speech broke off: the line ends.
    pub fn close(&self) {
        let mut c = self.lock();
        match c.pieces.last_mut() {
            Some(p) if !p.close => p.close = true,
            _ => return,
        }
        drop(c);
        self.changed();
    }

    /// The tentative tail, replacing the last one.
    pub fn tentative(&self, text: &str) {
        let mut c = self.lock();
        if c.tentative == text.trim() {
            return;
        }
        c.tentative = text.trim().to_string();
        drop(c);
        self.changed();
    }

    /// No more captions will come.
    pub fn end(&self) {
        let mut c = self.lock();
        c.ended = true;
        c.tentative.clear();
        drop(c);
        self.changed();
    }

    /// An event of one of two inputs captioned apart: a line is one input's, beginning with its
    /// label; the tail shown is the input's that spoke last; the captions end when both have.
    pub fn labelled(&self, lane: usize, label: &str, e: &Event) {
        let lane = lane.min(1);
        match e {
            Event::Commit { text, .. } => {
                let text = text.trim();
                if text.is_empty() {
                    return;
                }
                let mut c = self.lock();
                let same = c.speaker == Some(lane);
                let fresh = match c.pieces.last_mut() {
                    Some(p) if same => p.close,
                    Some(p) => {
                        // The other input's line ends where this one's words come in.
                        p.close = true;
                        true
                    }
                    None => true,
                };
                let text = if fresh {
                    format!("{label}: {text}")
                } else {
                    text.to_string()
                };
                c.speaker = Some(lane);
                let close = text.split_whitespace().last().is_some_and(ends_sentence);
                c.pieces.push(Piece { text, close });
                if c.tentative_from == Some(lane) {
                    c.tentative.clear();
                }
                drop(c);
                self.changed();
            }
            Event::Partial { text, .. } => {
                let mut c = self.lock();
                let text = text.trim();
                if text.is_empty() && c.tentative_from != Some(lane) {
                    return;
                }
                c.tentative = if text.is_empty() {
                    String::new()
                } else {
                    format!("{label}: {text}")
                };
                c.tentative_from = Some(lane);
                drop(c);
                self.changed();
            }
            Event::Break { .. } => {
                let mut c = self.lock();
                if c.tentative_from == Some(lane) {
                    c.tentative.clear();
                }
                let speaker = c.speaker;
                if let (Some(p), Some(s)) = (c.pieces.last_mut(), speaker) {
                    if s == lane {
                        p.close = true;
                    }
                }
                drop(c);
                self.changed();
            }
            Event::End { .. } => {
                let mut c = self.lock();
                c.lanes_ended[lane] = true;
                let both = c.lanes_ended.iter().all(|e| *e);
                drop(c);
                if both {
                    self.end();
                }
            }
            _ => {}
        }
    }

    /// A stream event, as the page shows it.
    pub fn event(&self, e: &Event) {
        match e {
            Event::Commit { text, .. } => self.commit(text),
            Event::Partial { text, .. } => self.tentative(text),
            Event::Break { .. } => {
                self.tentative("");
                self.close();
            }
            Event::End { .. } => self.end(),
            _ => {}
        }
    }
}

/// The page's server, running on a thread of its own while this lives.
#[derive(Debug)]
pub struct Share {
    /// The page's address, token included.
    pub url: String,
    board: Arc<Board>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Share {
    /// Serve at `addr` (`HOST:PORT`, or `HOST` for a free port).
    pub fn start(addr: &str) -> Result<Share, ShareError> {
        let at = parse_addr(addr)?;
        let listener = TcpListener::bind(at).map_err(|source| ShareError::Listen {
            addr: addr.to_string(),
            source,
        })?;
        let local = listener.local_addr().map_err(ShareError::Start)?;
        listener.set_nonblocking(true).map_err(ShareError::Start)?;
        let token = token().map_err(ShareError::Start)?;
        let url = format!("http://{}/{token}/", reachable(local));
        let board = Arc::new(Board::new());
        let state = Served {
            token,
            board: board.clone(),
            readers: Arc::new(Semaphore::new(MAX_READERS)),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ShareError::Start)?;
        std::thread::Builder::new()
            .name("livecap-share".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            crate::stderr::say(format!(
                                "the shared caption page cannot be served: {e}"
                            ));
                            return;
                        }
                    };
                    let app = Router::new()
                        .route("/{token}", get(page))
                        .route("/{token}/", get(page))
                        .route("/{token}/events", get(events))
                        .fallback(|| async { not_found() })
                        .with_state(state);
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        stopped.await.ok();
                    });
                    if let Err(e) = serve.await {
                        crate::stderr::say(format!("the shared caption page stopped: {e}"));
                    }
                });
            })
            .map_err(ShareError::Start)?;
        Ok(Share {
            url,
            board,
            _stop: stop,
        })
    }

    /// What the page shows.
    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// Start sharing if `addr` is given, and say where on standard error (with the QR code
    /// when that is a terminal).
    pub fn announce(addr: Option<&str>) -> Result<Option<Share>, ShareError> {
        let Some(addr) = addr else {
            return Ok(None);
        };
        let share = Share::start(addr)?;
        if std::io::stderr().is_terminal() {
            crate::stderr::say(share.qr().join("\n"));
        }
        crate::stderr::say(format!("the captions are shared at {}", share.url));
        Ok(Some(share))
    }

    /// Let the pages open now read the end before the server goes.
    pub fn finish(self) {
        self.board.end();
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The URL as a QR code, in lines of half-block characters.
    pub fn qr(&self) -> Vec<String> {
        qr_lines(&self.url)
    }
}

/// `text` as a QR code for a terminal: each line two rows of modules, the light ones drawn as
/// blocks in the text colour (a light terminal colour on a dark background reads as a normal
/// code), framed by one light module: small enough to show whole at 80x24.
pub fn qr_lines(text: &str) -> Vec<String> {
    use qrcode::{Color, EcLevel, QrCode};
    let Ok(code) = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L) else {
        return Vec::new();
    };
    let (n, colors) = (code.width(), code.to_colors());
    // Light outside the code: the frame.
    let light = |x: usize, y: usize| -> bool {
        x == 0 || y == 0 || x > n || y > n || colors[(y - 1) * n + (x - 1)] == Color::Light
    };
    (0..n + 2)
        .step_by(2)
        .map(|y| {
            (0..n + 2)
                .map(|x| match (light(x, y), light(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect()
}

fn parse_addr(addr: &str) -> Result<SocketAddr, ShareError> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    let host = addr.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, 0)),
        Err(_) => Err(ShareError::Address {
            addr: addr.to_string(),
            reason: "give an address such as 127.0.0.1:8080, 0.0.0.0:8080 (every network) or \
                     just 0.0.0.0 (a free port)"
                .into(),
        }),
    }
}

/// Where another device reaches `local`: an address bound to every interface is named by this
/// machine's address on its network.
fn reachable(local: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    // Connecting a UDP socket sends nothing: it only picks the interface a packet would leave by.
    let ip = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, local.port())
}

/// 128 random bits, in hex.
fn token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Clone)]
struct Served {
    token: String,
    board: Arc<Board>,
    readers: Arc<Semaphore>,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Headers for everything served: nothing cached, the token never sent on as a referrer.
fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn page(State(s): State<Served>, Path(token): Path<String>) -> Response {
    if token != s.token {
        return not_found();
    }
    let mut r = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; \
             script-src 'unsafe-inline'",
        ),
    );
    private(r)
}

async fn events(
    State(s): State<Served>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if token != s.token {
        return not_found();
    }
    let Ok(permit) = s.readers.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many readers\n").into_response();
    };
    // A page that reconnects says the last piece it has.
    let next = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(0, |n| n + 1);
    let reader = Reader {
        board: s.board.clone(),
        news: s.board.changed.subscribe(),
        next,
        shown: None,
        ended: false,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let events = r.next_events().await?;
        Some((futures_util::stream::iter(events), r))
    });
    let stream = futures_util::StreamExt::flatten(stream);
    private(
        Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}

/// One page's place in the captions.
struct Reader {
    board: Arc<Board>,
    news: watch::Receiver<u64>,
    /// The next piece to send.
    next: usize,
    /// The tentative text last sent.
    shown: Option<String>,
    ended: bool,
    _permit: OwnedSemaphorePermit,
}

#[derive(Serialize)]
struct Tentative<'a> {
    text: &'a str,
}

impl Reader {
    /// What to send next, waiting for news when there is none; `None` once the end is sent.
    async fn next_events(&mut self) -> Option<Vec<Result<SseEvent, Infallible>>> {
        loop {
            if self.ended {
                return None;
            }
            // Marked seen before reading: a change after this read wakes the next wait.
            self.news.borrow_and_update();
            let mut out = Vec::new();
            {
                let c = self.board.lock();
                let upto = c.pieces.len().min(self.next + BATCH);
                for (i, p) in c.pieces.iter().enumerate().take(upto).skip(self.next) {
                    let data = serde_json::to_string(p).unwrap_or_default();
                    out.push(Ok(SseEvent::default()
                        .event("commit")
                        .id(i.to_string())
                        .data(data)));
                }
                let caught_up = upto == c.pieces.len();
                self.next = self.next.max(upto);
                if caught_up && self.shown.as_deref() != Some(c.tentative.as_str()) {
                    let data = serde_json::to_string(&Tentative { text: &c.tentative })
                        .unwrap_or_default();
                    out.push(Ok(SseEvent::default().event("tentative").data(data)));
                    self.shown = Some(c.tentative.clone());
                }
                if caught_up && c.ended {
                    out.push(Ok(SseEvent::default().event("end").data("{}")));
                    self.ended = true;
                }
            }
            if !out.is_empty() {
                return Some(out);
            }
            // The board is gone only when the server is stopping.
            if self.news.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_or_without_a_port_and_a_sentence_for_others() {
        assert_eq!(
            parse_addr("0.0.0.0:8080").ok(),
            Some("0.0.0.0:8080".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr("192.168.1.5").ok(),
            Some("192.168.1.5:0".parse().expect("addr"))
        );
        assert_eq!(
            parse_addr("[::1]").ok(),
            Some("[::1]:0".parse().expect("addr"))
        );
        let e = parse_addr("my-laptop:80").expect_err("a name").to_string();
        assert!(
            e.starts_with("--share my-laptop:80: give an address"),
            "{e}"
        );
    }

    #[test]
    fn two_inputs_lines_begin_with_their_label_and_end_when_both_end() {
        use crate::stream::Word;
        let board = Board::new();
        let commit = |text: &str| Event::Commit {
            text: text.into(),
            start: 0.0,
            end: 1.0,
            emitted_at: 1.0,
            words: vec![Word::new(text, 0.0, 1.0, 1.0)],
        };
        let partial = |text: &str| Event::Partial {
            text: text.into(),
            start: 0.0,
            end: 1.0,
            emitted_at: 1.0,
        };
        let end = Event::End {
            duration: 1.0,
            updates: 1,
            compute: 0.1,
            words: 1,
            mode: crate::stream::Mode::Window,
            emitted_at: 1.0,
        };
        board.labelled(0, "You", &commit("Can you"));
        board.labelled(1, "Them", &partial("Yes"));
        assert_eq!(board.lock().tentative, "Them: Yes");
        // The other input's empty tail leaves this one's shown.
        board.labelled(0, "You", &partial(""));
        assert_eq!(board.lock().tentative, "Them: Yes");
        board.labelled(0, "You", &commit("hear me?"));
        board.labelled(1, "Them", &commit("Yes, I"));
        board.labelled(0, "You", &commit("Good."));
        board.labelled(1, "Them", &commit("can."));
        let lines: Vec<(String, bool)> = board
            .lock()
            .pieces
            .iter()
            .map(|p| (p.text.clone(), p.close))
            .collect();
        let want = [
            ("You: Can you", false),
            ("hear me?", true),
            ("Them: Yes, I", true),
            ("You: Good.", true),
            ("Them: can.", true),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(t, c)| (t.to_string(), *c)).collect();
        assert_eq!(lines, want);
        assert_eq!(board.lock().tentative, "", "Them's tail is committed");
        board.labelled(0, "You", &end);
        assert!(!board.lock().ended, "Them is still heard");
        board.labelled(1, "Them", &end);
        assert!(board.lock().ended);
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (token().expect("token"), token().expect("token"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn the_qr_code_reads_back_and_fits_80x24() {
        let url = "http://192.168.100.200:65535/0123456789abcdef0123456789abcdef/";
        let lines = qr_lines(url);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // The modules back from the half blocks: the frame is light, the code is the code.
        let code =
            qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::L).expect("code");
        let n = code.width();
        assert_eq!(width, n + 2);
        assert!(lines.len() <= 20, "{} lines", lines.len());
        let colors = code.to_colors();
        for y in 0..n + 2 {
            for x in 0..n + 2 {
                let c = lines[y / 2].chars().nth(x).expect("cell");
                let lit = matches!((c, y % 2), ('█', _) | ('▀', 0) | ('▄', 1));
                let want = x == 0
                    || y == 0
                    || x > n
                    || y > n
                    || colors[(y - 1) * n + (x - 1)] == qrcode::Color::Light;
                assert_eq!(lit, want, "module {x},{y}");
            }
        }
    }

    #[test]
    fn pieces_close_lines_at_sentence_ends_and_breaks() {
        let b = Board::new();
        b.commit("Hello there.");
        b.commit("How are");
        b.tentative("you");
        b.close();
        b.close();
        b.commit("  ");
        let c = b.lock();
        let got: Vec<(&str, bool)> = c
            .pieces
            .iter()
            .map(|p| (p.text.as_str(), p.close))
            .collect();
        assert_eq!(got, [("Hello there.", true), ("How are", true)]);
        assert_eq!(c.tentative, "you");
    }
}
