//! The pool of warm workers behind one connector, and the one place a call is made.
//!
//! The pool holds at most `max` workers: `workers` from the configuration when the script's
//! `hello` declared it concurrency-safe, else one, so calls are serialised. A caller takes an
//! idle worker, starts one while the pool is below `max`, or waits for one until its deadline.
//! A worker that broke is dropped (its process group killed) and, when none is left, a fresh
//! one is started in the background so the next call finds it warm; a worker that served
//! `max_operations` calls is retired gently the same way.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use connector_core::{ConnectorError, ConnectorSchema, Deadline};
use serde_json::{Map, Value, json};

use crate::config::ScriptConfig;
use crate::protocol::{HelloResult, PROTOCOL_VERSION, ScriptCapabilities};
use crate::worker::{CallError, Failure, Launch, Redactor, Worker};

/// Whether a call may have changed the target (its failure leaves the outcome unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Write,
}

struct PoolState {
    idle: Vec<Worker>,
    /// Workers in existence: idle, busy, or being started.
    live: usize,
}

/// Everything one connector shares between its callers and its background starters.
pub(crate) struct Inner {
    pub name: Arc<str>,
    pub config: ScriptConfig,
    launch: Launch,
    redactor: Arc<Redactor>,
    pub capabilities: ScriptCapabilities,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
    pub schema: Mutex<Option<Arc<ConnectorSchema>>>,
}

impl Inner {
    /// Resolves paths, starts the first worker and reads its `hello`.
    pub fn start(
        name: Arc<str>,
        config: ScriptConfig,
        base_dir: &Path,
    ) -> Result<Arc<Inner>, ConnectorError> {
        let launch = launch(&config, base_dir)?;
        let redactor = Arc::new(Redactor::new(
            config
                .secrets
                .values()
                .map(|s| s.expose().to_owned())
                .collect(),
        ));
        let deadline = Deadline::after(config.start_timeout);
        let (first, hello) = start_worker(&name, &config, &launch, &redactor, deadline)?;
        let capabilities = hello.capabilities;
        let max = if capabilities.concurrency_safe {
            config.workers
        } else {
            1
        };
        tracing::debug!(connector = %name, pid = first.pid(), ?capabilities, "script connector started");
        Ok(Arc::new(Inner {
            name,
            config,
            launch,
            redactor,
            capabilities,
            max,
            state: Mutex::new(PoolState {
                idle: vec![first],
                live: 1,
            }),
            freed: Condvar::new(),
            schema: Mutex::new(None),
        }))
    }

    /// The most workers this pool runs at once.
    pub fn max_workers(&self) -> usize {
        self.max
    }

    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `op` to a worker and returns the script's result. `secrets` are the secret values
    /// the body carries (so the worker's logs redact them).
    pub fn call(
        self: &Arc<Self>,
        op: &str,
        body: Map<String, Value>,
        deadline: Deadline,
        effect: Effect,
        secrets: &[&str],
    ) -> Result<Value, ConnectorError> {
        let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
        // A worker found dead before the request reached it is replaced transparently.
        for _ in 0..3 {
            deadline.check(&format!("the {op} call"))?;
            let mut worker = self.acquire(deadline, op)?;
            let pid = worker.pid();
            match worker.call(op, body.clone(), deadline, secrets.clone()) {
                Ok(v) => {
                    self.release(worker);
                    return Ok(v);
                }
                Err(CallError::Answer(e)) => {
                    self.release(worker);
                    return Err(e.to_connector_error(&|t| self.redact(t)));
                }
                Err(CallError::TooLarge(n)) => {
                    self.release(worker);
                    return Err(ConnectorError::rejected(format!(
                        "the {op} request is {n} bytes, more than max_message_size ({})",
                        self.config.max_message_size
                    )));
                }
                Err(CallError::Failed(Failure::BeforeSend(why))) => {
                    tracing::warn!(connector = %self.name, pid, "{why}; starting a fresh worker");
                    self.discard(worker);
                }
                Err(CallError::Failed(Failure::Timeout)) => {
                    self.discard(worker);
                    tracing::warn!(connector = %self.name, pid, op,
                        "the call passed its deadline; the worker's process group was killed");
                    return Err(ConnectorError::timeout(format!(
                        "the script did not answer {op} before the deadline; its worker was killed and will be replaced"
                    )));
                }
                Err(CallError::Failed(Failure::Broken(why))) => {
                    self.discard(worker);
                    let why = self.redact(&why);
                    tracing::warn!(connector = %self.name, pid, op, "{why}; the worker is replaced");
                    return Err(match effect {
                        Effect::Write => ConnectorError::timeout(format!(
                            "{why} (during {op}, so whether the target holds the change is unknown); the worker is replaced"
                        )),
                        Effect::Read => ConnectorError::unavailable(format!(
                            "{why} (during {op}); the worker is replaced"
                        )),
                    });
                }
            }
        }
        Err(ConnectorError::unavailable(format!(
            "the script's workers kept exiting before {op} could be sent"
        )))
    }

    fn acquire(self: &Arc<Self>, deadline: Deadline, op: &str) -> Result<Worker, ConnectorError> {
        let mut state = self.lock();
        loop {
            if let Some(w) = state.idle.pop() {
                return Ok(w);
            }
            if state.live < self.max {
                state.live += 1;
                drop(state);
                return match self.start_one(deadline) {
                    Ok(w) => Ok(w),
                    Err(e) => {
                        self.lock().live -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(ConnectorError::timeout(format!(
                    "no worker was free for {op} before the deadline ({} busy)",
                    self.max
                )));
            }
            state = self
                .freed
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn start_one(&self, deadline: Deadline) -> Result<Worker, ConnectorError> {
        let (w, hello) = start_worker(
            &self.name,
            &self.config,
            &self.launch,
            &self.redactor,
            deadline,
        )?;
        if hello.capabilities != self.capabilities {
            tracing::warn!(connector = %self.name, pid = w.pid(),
                "a new worker declares other capabilities than the first; they take effect when the host restarts");
        }
        Ok(w)
    }

    /// Returns a healthy worker to the pool, or retires it after `max_operations` calls.
    fn release(self: &Arc<Self>, worker: Worker) {
        let max_ops = self.config.max_operations;
        if max_ops > 0 && worker.operations >= max_ops {
            tracing::debug!(connector = %self.name, pid = worker.pid(), "worker served {max_ops} operations; replacing it");
            worker.retire();
            self.forget_one();
            return;
        }
        self.lock().idle.push(worker);
        self.freed.notify_one();
    }

    /// Drops a broken worker (its process group is killed).
    fn discard(self: &Arc<Self>, mut worker: Worker) {
        worker.kill();
        drop(worker);
        self.forget_one();
    }

    /// One worker fewer; when none is left, a fresh one starts in the background so the next
    /// call finds it warm.
    fn forget_one(self: &Arc<Self>) {
        let mut state = self.lock();
        state.live = state.live.saturating_sub(1);
        let replenish = state.live == 0;
        if replenish {
            state.live += 1;
        }
        drop(state);
        self.freed.notify_one();
        if replenish {
            let inner = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("script-starter".into())
                .spawn(move || {
                    let deadline = Deadline::after(inner.config.start_timeout);
                    match inner.start_one(deadline) {
                        Ok(w) => inner.lock().idle.push(w),
                        Err(e) => {
                            tracing::warn!(connector = %inner.name, error = %e, "a replacement worker did not start; the next call tries again");
                            inner.lock().live -= 1;
                        }
                    }
                    inner.freed.notify_one();
                });
            if started.is_err() {
                self.lock().live -= 1;
                self.freed.notify_one();
            }
        }
    }
}

/// The program, arguments, directory and environment of a worker, checked.
fn launch(config: &ScriptConfig, base_dir: &Path) -> Result<Launch, ConnectorError> {
    let bad = |m: String| Err(ConnectorError::misconfigured(m));
    if config.workers == 0 || config.page_size == 0 {
        return bad("workers and page_size must be at least 1".into());
    }
    if config.max_message_size < 4096 {
        return bad("max_message_size must be at least 4096 bytes".into());
    }
    // The worker runs in its working directory: a relative base directory (a configuration
    // given as `demo/connector-host.toml`) would name the script below it instead.
    let base_dir = match std::path::absolute(base_dir) {
        Ok(dir) => dir,
        Err(e) => return bad(format!("base directory {}: {e}", base_dir.display())),
    };
    let script = base_dir.join(&config.script);
    let meta = match std::fs::metadata(&script) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return bad(format!("{} is not a file", script.display())),
        Err(e) => return bad(format!("script {}: {e}", script.display())),
    };
    {
        use std::os::unix::fs::PermissionsExt;
        // A script any user may rewrite would hand them every credential it is given.
        if meta.permissions().mode() & 0o002 != 0 {
            return bad(format!(
                "{} is writable by every user; remove that permission (chmod o-w)",
                script.display()
            ));
        }
    }
    let cwd = match &config.working_dir {
        Some(d) => base_dir.join(d),
        None => base_dir.clone(),
    };
    if !cwd.is_dir() {
        return bad(format!("working_dir {} is not a directory", cwd.display()));
    }
    if let Some(name) = config.env.iter().find(|n| n.is_empty() || n.contains('=')) {
        return bad(format!("env: {name:?} is not a variable name"));
    }
    let env = config
        .env
        .iter()
        .filter_map(|n| std::env::var_os(n).map(|v| (n.clone(), v)))
        .collect();
    let script_arg = script.to_string_lossy().into_owned();
    let (program, args) = match &config.interpreter {
        Some(i) => {
            let mut args = config.interpreter_args.clone();
            args.push(script_arg);
            args.extend(config.args.iter().cloned());
            (std::path::PathBuf::from(i), args)
        }
        None => (script, config.args.clone()),
    };
    Ok(Launch {
        program,
        args,
        cwd,
        env,
        max_message: config.max_message_size,
        max_log_per_call: config.max_log_per_call,
    })
}

/// Starts a worker and has it answer `hello` by `deadline` (at most `start_timeout` away).
fn start_worker(
    name: &Arc<str>,
    config: &ScriptConfig,
    launch: &Launch,
    redactor: &Arc<Redactor>,
    deadline: Deadline,
) -> Result<(Worker, HelloResult), ConnectorError> {
    let deadline = deadline.min(Deadline::after(config.start_timeout));
    deadline.check("starting a worker")?;
    let mut worker =
        Worker::spawn(launch, name, redactor.clone()).map_err(ConnectorError::misconfigured)?;
    let secrets: Map<String, Value> = config
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.expose())))
        .collect();
    let mut body = Map::new();
    body.insert("protocol".into(), Value::from(PROTOCOL_VERSION));
    body.insert("connector".into(), Value::from(&**name));
    body.insert(
        "config".into(),
        json!({"parameters": config.parameters, "secrets": secrets}),
    );
    let answer = worker.call("hello", body, deadline, Vec::new());
    worker.operations = 0;
    let result = match answer {
        Ok(v) => v,
        Err(CallError::Answer(e)) => return Err(e.to_connector_error(&|t| redactor.redact(t))),
        Err(CallError::TooLarge(n)) => {
            return Err(ConnectorError::misconfigured(format!(
                "the hello message is {n} bytes, more than max_message_size"
            )));
        }
        Err(CallError::Failed(Failure::Timeout)) => {
            return Err(ConnectorError::timeout(format!(
                "the script did not answer hello within {:?}",
                config.start_timeout
            )));
        }
        Err(CallError::Failed(Failure::BeforeSend(why) | Failure::Broken(why))) => {
            return Err(ConnectorError::misconfigured(format!(
                "the script failed its hello: {}",
                redactor.redact(&why)
            )));
        }
    };
    let hello: HelloResult = serde_json::from_value(result).map_err(|e| {
        ConnectorError::misconfigured(format!("the script's hello answer is invalid: {e}"))
    })?;
    if hello.protocol != PROTOCOL_VERSION {
        return Err(ConnectorError::misconfigured(format!(
            "the script speaks protocol {}, this host speaks protocol {PROTOCOL_VERSION}",
            hello.protocol
        )));
    }
    Ok((worker, hello))
}
