//! One worker: a script process kept warm between calls, and the three threads that do its I/O.
//!
//! The caller never blocks on a pipe. A writer thread writes requests to the script's stdin; a
//! reader thread splits stdout into lines (refusing one longer than the message cap) and a
//! second one logs stderr line by line through `tracing`. All three report into one channel,
//! and a call waits on that channel until its deadline: then the worker's **whole process
//! group** is killed (each worker leads a group of its own, so children it spawned die with
//! it) and the call is a timeout.
//!
//! **Invariant.** A worker that failed in any way the protocol does not describe (a timeout, an
//! exit, a line that is not an answer, an oversized line, a flood on stderr) is never used
//! again: the pool drops it and starts a fresh one.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::Duration;

use connector_core::Deadline;
use serde_json::{Map, Value};

use crate::protocol::{ErrorBody, Response};

/// Standard-error lines longer than this are cut in the log.
const MAX_LOG_LINE: usize = 4096;
/// How long a retiring worker may take to exit after its stdin closes.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// How to start a worker.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Allowed variables and their values, taken from the host's environment at start.
    pub env: Vec<(String, std::ffi::OsString)>,
    pub max_message: usize,
    pub max_log_per_call: usize,
}

/// Known secrets, removed from anything the script writes that reaches a log or an error:
/// the configuration's, and those of the worker's last [`Redactor::RECENT_CALLS`] calls
/// (standard error is read apart from the answers, so a line may be logged after its call
/// returned).
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    permanent: Vec<String>,
    recent: RwLock<VecDeque<Vec<String>>>,
}

impl Redactor {
    /// Secrets shorter than this are not redacted (they would mangle ordinary text).
    const MIN_LEN: usize = 4;

    pub fn new(permanent: Vec<String>) -> Self {
        Redactor {
            permanent: permanent
                .into_iter()
                .filter(|s| s.len() >= Self::MIN_LEN)
                .collect(),
            recent: RwLock::new(VecDeque::new()),
        }
    }

    /// How many calls' secrets are remembered.
    const RECENT_CALLS: usize = 16;

    /// Remembers the secrets of a call that is about to start.
    pub fn add_call(&self, secrets: Vec<String>) {
        let secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= Self::MIN_LEN)
            .collect();
        if secrets.is_empty() {
            return;
        }
        let mut recent = self.recent.write().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == Self::RECENT_CALLS {
            recent.pop_front();
        }
        recent.push_back(secrets);
    }

    pub fn redact(&self, text: &str) -> String {
        let recent = self.recent.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = text.to_owned();
        for s in self.permanent.iter().chain(recent.iter().flatten()) {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), connector_core::secret::REDACTED);
            }
        }
        out
    }
}

/// What the I/O threads report.
#[derive(Debug)]
enum Event {
    Line(Vec<u8>),
    Oversized,
    Eof,
    ReadFailed(String),
    WriteFailed(String),
    StderrFlood,
}

/// Why a call failed without an answer from the protocol. The worker is broken.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Broken before the request was handed over: nothing reached the script.
    BeforeSend(String),
    /// The deadline passed; the process group was killed.
    Timeout,
    /// The script exited, printed something that is not an answer, or flooded its output.
    Broken(String),
}

/// The outcome of one call.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The script answered with an error; the worker is fine.
    Answer(ErrorBody),
    /// The request itself is larger than the message cap; the worker is fine.
    TooLarge(usize),
    /// The worker is broken and must be dropped.
    Failed(Failure),
}

/// A running script process.
pub(crate) struct Worker {
    child: Option<Child>,
    pid: u32,
    to_stdin: Option<Sender<Vec<u8>>>,
    events: Receiver<Event>,
    log_used: Arc<AtomicUsize>,
    flood_sent: Arc<AtomicBool>,
    redactor: Arc<Redactor>,
    max_message: usize,
    next_id: u64,
    /// Calls served so far.
    pub operations: u64,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("pid", &self.pid).finish()
    }
}

impl Worker {
    /// Starts the process in a process group of its own, with the allowed environment only.
    pub fn spawn(
        launch: &Launch,
        name: &Arc<str>,
        redactor: Arc<Redactor>,
    ) -> Result<Worker, String> {
        let mut cmd = Command::new(&launch.program);
        cmd.args(&launch.args)
            .current_dir(&launch.cwd)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
        let pid = child.id();
        let (tx, events) = mpsc::channel();
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => {
                    kill_group(pid, &mut child);
                    reap_in_background(child);
                    return Err("the script's standard streams could not be opened".into());
                }
            };
        let log_used = Arc::new(AtomicUsize::new(0));
        let flood_sent = Arc::new(AtomicBool::new(false));
        let (to_stdin, requests) = mpsc::channel::<Vec<u8>>();
        let started = [
            spawn_thread(format!("script-{pid}-in"), {
                let tx = tx.clone();
                move || write_requests(stdin, &requests, &tx)
            }),
            spawn_thread(format!("script-{pid}-out"), {
                let tx = tx.clone();
                let max = launch.max_message;
                move || read_lines(stdout, max, &tx)
            }),
            spawn_thread(format!("script-{pid}-err"), {
                let log = StderrLog {
                    name: name.clone(),
                    pid,
                    used: log_used.clone(),
                    flood_sent: flood_sent.clone(),
                    cap: launch.max_log_per_call,
                    redactor: redactor.clone(),
                    tx,
                };
                move || log.run(stderr)
            }),
        ];
        if let Some(Err(e)) = started.into_iter().find(Result::is_err) {
            kill_group(pid, &mut child);
            reap_in_background(child);
            return Err(format!("cannot start an I/O thread: {e}"));
        }
        Ok(Worker {
            child: Some(child),
            pid,
            to_stdin: Some(to_stdin),
            events,
            log_used,
            flood_sent,
            redactor,
            max_message: launch.max_message,
            next_id: 1,
            operations: 0,
        })
    }

    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends one request and waits for its answer until `deadline`. `secrets` are the secret
    /// values the request carries (redacted from what the script logs meanwhile).
    pub fn call(
        &mut self,
        op: &str,
        body: Map<String, Value>,
        deadline: Deadline,
        secrets: Vec<String>,
    ) -> Result<Value, CallError> {
        // Anything that arrived while the worker was idle means it is broken: an exit, a flood,
        // or output nobody asked for.
        match self.events.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(event) => {
                return Err(CallError::Failed(Failure::BeforeSend(describe_idle(
                    &event,
                ))));
            }
            Err(TryRecvError::Disconnected) => {
                return Err(CallError::Failed(Failure::BeforeSend(
                    "the worker's I/O threads ended".into(),
                )));
            }
        }
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(CallError::Failed(Failure::BeforeSend(format!(
                "the worker exited while idle ({status})"
            ))));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut message = Map::new();
        message.insert("id".into(), Value::from(id));
        message.insert("op".into(), Value::from(op));
        let remaining = u64::try_from(deadline.remaining().as_millis()).unwrap_or(u64::MAX);
        message.insert("deadlineMs".into(), Value::from(remaining));
        message.extend(body);
        let mut bytes = serde_json::to_vec(&Value::Object(message))
            .map_err(|e| CallError::Failed(Failure::BeforeSend(e.to_string())))?;
        if bytes.len() > self.max_message {
            return Err(CallError::TooLarge(bytes.len()));
        }
        bytes.push(b'\n');
        self.redactor.add_call(secrets);
        self.log_used.store(0, Ordering::SeqCst);
        self.flood_sent.store(false, Ordering::SeqCst);
        let sent = self.to_stdin.as_ref().map(|tx| tx.send(bytes).is_ok());
        if sent != Some(true) {
            return Err(CallError::Failed(Failure::BeforeSend(
                "the worker's standard input is closed".into(),
            )));
        }
        self.operations += 1;
        let broken = |m: String| Err(CallError::Failed(Failure::Broken(m)));
        loop {
            let event = match self.events.recv_timeout(deadline.remaining()) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(CallError::Failed(Failure::Timeout));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return broken("the worker's I/O threads ended".into());
                }
            };
            match event {
                Event::Line(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Event::Line(line) => {
                    // Never quote the line: a script that echoes its request would put secrets
                    // into the error and the log.
                    let response: Response = match serde_json::from_slice(&line) {
                        Ok(r) => r,
                        Err(e) => {
                            return broken(format!(
                                "the script wrote a line of {} bytes that is not a protocol answer ({e})",
                                line.len()
                            ));
                        }
                    };
                    if response.id != id {
                        return broken(format!(
                            "the script answered request {} while request {id} was waiting",
                            response.id
                        ));
                    }
                    return match (response.result, response.error) {
                        (_, Some(error)) => Err(CallError::Answer(error)),
                        (Some(result), None) => Ok(result),
                        (None, None) => Ok(Value::Null),
                    };
                }
                Event::Oversized => {
                    return broken(format!(
                        "the script wrote a message longer than max_message_size ({} bytes)",
                        self.max_message
                    ));
                }
                Event::StderrFlood => {
                    return broken(
                        "the script wrote more than max_log_per_call bytes to standard error"
                            .into(),
                    );
                }
                Event::Eof => {
                    let status = self.exit_status();
                    return broken(format!("the script exited during the call ({status})"));
                }
                Event::ReadFailed(e) => return broken(format!("reading the script failed: {e}")),
                Event::WriteFailed(e) => {
                    return broken(format!("writing to the script failed: {e}"));
                }
            }
        }
    }

    /// Kills the process group and reaps the leader (after an exit, so it is quick).
    fn exit_status(&mut self) -> String {
        match self.child.take() {
            Some(mut child) => {
                kill_group(self.pid, &mut child);
                match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(e) => format!("status unknown: {e}"),
                }
            }
            None => "already reaped".into(),
        }
    }

    /// Kills the whole process group at once and reaps the leader in the background.
    pub fn kill(&mut self) {
        self.to_stdin = None;
        if let Some(mut child) = self.child.take() {
            kill_group(self.pid, &mut child);
            reap_in_background(child);
        }
    }

    /// Ends a healthy worker gently: its stdin closes, it has a grace period to exit, then its
    /// process group is killed (so children it left behind go too) and it is reaped.
    pub fn retire(mut self) {
        self.to_stdin = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = self.pid;
        let events = std::mem::replace(&mut self.events, mpsc::channel().1);
        let reaper = move || {
            let deadline = Deadline::after(RETIRE_GRACE);
            while let Ok(event) = events.recv_timeout(deadline.remaining()) {
                if matches!(event, Event::Eof) {
                    break;
                }
            }
            kill_group(pid, &mut child);
            let _ = child.wait();
        };
        if thread::Builder::new()
            .name(format!("script-{pid}-retire"))
            .spawn(reaper)
            .is_err()
        {
            tracing::warn!(pid, "could not start a thread to retire a worker");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe_idle(event: &Event) -> String {
    match event {
        Event::Line(l) => format!(
            "the worker wrote {} bytes to standard output while idle",
            l.len()
        ),
        Event::Eof => "the worker exited while idle".into(),
        Event::Oversized => "the worker wrote an oversized line while idle".into(),
        Event::StderrFlood => "the worker flooded standard error while idle".into(),
        Event::ReadFailed(e) | Event::WriteFailed(e) => format!("the worker's pipes failed: {e}"),
    }
}

fn spawn_thread(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    thread::Builder::new().name(name).spawn(f).map(|_| ())
}

fn write_requests(mut stdin: ChildStdin, requests: &Receiver<Vec<u8>>, tx: &Sender<Event>) {
    // Ends when the worker drops its sender; dropping `stdin` then closes the script's input.
    while let Ok(bytes) = requests.recv() {
        if let Err(e) = stdin.write_all(&bytes).and_then(|()| stdin.flush()) {
            let _ = tx.send(Event::WriteFailed(e.to_string()));
            return;
        }
    }
}

/// Reads `\n`-terminated lines of at most `max` bytes; stops at the first longer one.
fn read_lines(out: impl Read, max: usize, tx: &Sender<Event>) {
    let mut reader = BufReader::with_capacity(64 * 1024, out);
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Event::ReadFailed(e.to_string()));
                return;
            }
        };
        if buf.is_empty() {
            let _ = tx.send(Event::Eof);
            return;
        }
        let (chunk, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), true),
            None => (buf, false),
        };
        let used = chunk.len() + usize::from(complete);
        if line.len() + chunk.len() > max {
            let _ = tx.send(Event::Oversized);
            return;
        }
        line.extend_from_slice(chunk);
        reader.consume(used);
        if complete && tx.send(Event::Line(std::mem::take(&mut line))).is_err() {
            return;
        }
    }
}

/// Logs a worker's standard error line by line, within a per-call budget.
struct StderrLog {
    name: Arc<str>,
    pid: u32,
    used: Arc<AtomicUsize>,
    flood_sent: Arc<AtomicBool>,
    cap: usize,
    redactor: Arc<Redactor>,
    tx: Sender<Event>,
}

impl StderrLog {
    fn run(self, err: impl Read) {
        let mut reader = BufReader::with_capacity(16 * 1024, err);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Read at most MAX_LOG_LINE bytes of a line, then skip the rest of it.
            let mut limited = (&mut reader).take(MAX_LOG_LINE as u64);
            let n = match limited.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let mut total = n;
            if line.last() != Some(&b'\n') && n == MAX_LOG_LINE {
                total += skip_line(&mut reader);
                line.extend_from_slice(" …".as_bytes());
            }
            let used = self.used.fetch_add(total, Ordering::SeqCst) + total;
            if used > self.cap {
                if !self.flood_sent.swap(true, Ordering::SeqCst) {
                    tracing::warn!(connector = %self.name, pid = self.pid,
                        "the script floods standard error; it will be replaced");
                    let _ = self.tx.send(Event::StderrFlood);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            self.log(&self.redactor.redact(text.trim_end()));
        }
    }

    /// One line at the level its prefix names (`error:`, `warn:`, `debug:`, `trace:`), else
    /// `info`.
    fn log(&self, line: &str) {
        let lower = line.get(..8).unwrap_or(line).to_ascii_lowercase();
        let strip = |p: &str| line.get(p.len()..).unwrap_or_default().trim_start();
        let (name, pid) = (&*self.name, self.pid);
        if lower.starts_with("error:") {
            tracing::error!(connector = name, pid, "{}", strip("error:"));
        } else if lower.starts_with("warning:") {
            tracing::warn!(connector = name, pid, "{}", strip("warning:"));
        } else if lower.starts_with("warn:") {
            tracing::warn!(connector = name, pid, "{}", strip("warn:"));
        } else if lower.starts_with("debug:") {
            tracing::debug!(connector = name, pid, "{}", strip("debug:"));
        } else if lower.starts_with("trace:") {
            tracing::trace!(connector = name, pid, "{}", strip("trace:"));
        } else if lower.starts_with("info:") {
            tracing::info!(connector = name, pid, "{}", strip("info:"));
        } else {
            tracing::info!(connector = name, pid, "{line}");
        }
    }
}

/// Consumes the rest of a line; returns how many bytes it had.
fn skip_line(reader: &mut impl BufRead) -> usize {
    let mut skipped = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) if !b.is_empty() => b,
            _ => return skipped,
        };
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return skipped + i + 1;
            }
            None => {
                let n = buf.len();
                reader.consume(n);
                skipped += n;
            }
        }
    }
}

/// Sends SIGKILL to the process group `pgid` through `kill(1)` (no `unsafe`, no libc), then
/// to the leader through std as a fallback.
fn kill_group(pgid: u32, child: &mut Child) {
    let kill = ["/bin/kill", "/usr/bin/kill"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    match kill {
        Some(kill) => {
            let status = Command::new(kill)
                .args(["-KILL", "--", &format!("-{pgid}")])
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(e) = status {
                tracing::warn!(pgid, error = %e, "kill(1) could not be run");
            }
        }
        None => tracing::warn!(
            pgid,
            "no kill(1) found: only the worker itself is killed, not its children"
        ),
    }
    let _ = child.kill();
}

fn reap_in_background(mut child: Child) {
    let reap = move || {
        let _ = child.wait();
    };
    if thread::Builder::new()
        .name("script-reaper".into())
        .spawn(reap)
        .is_err()
    {
        tracing::warn!("could not start a thread to reap a worker");
    }
}
