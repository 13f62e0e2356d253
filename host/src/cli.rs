//! The `connector-host` command line: `serve`, `demo`, `init`, `check-config`, `cert`, `token`,
//! `connector test`, `import`, `space` and `match`. Start-up errors carry operator-level context
//! ("while reading …"); this is the only module that uses `anyhow`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use connector_core::{Anchor, ConnectorError, Deadline};

use crate::assemble::{TARGET_CALL_BUDGET, build_runtime, space_path};
use crate::config::{Config, TokenHash, generate_token};
use crate::imports::ImportControl;
use crate::registry::{self, Connectors};
use crate::telemetry::{Metrics, init_logging};

/// connector-host: provision users and groups from Microsoft Entra (or any SCIM 2.0 client)
/// into on-premises systems through pluggable connectors.
#[derive(Parser, Debug)]
#[command(name = "connector-host", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "CONNECTOR_HOST_CONFIG",
        default_value = "connector-host.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the host.
    Serve,
    /// Try connector-host in one step: create a demo directory with a SQLite staging table,
    /// a token and a certificate (first run only), then serve it on https://127.0.0.1:8585.
    Demo {
        /// Where the demo lives.
        #[arg(long, default_value = "connector-host-demo")]
        dir: PathBuf,
        /// Port to listen on (loopback only).
        #[arg(long, default_value_t = 8585)]
        port: u16,
        /// Which connector to demonstrate.
        #[arg(long, value_enum, default_value_t = crate::demo::DemoKind::Sql)]
        connector: crate::demo::DemoKind,
    },
    /// Write a sample configuration, a connector token and a certificate into a directory.
    Init {
        /// Directory to create the configuration in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Name of the first connector (part of its URL).
        #[arg(long, default_value = "hr")]
        name: String,
    },
    /// Read and validate the configuration, then bind every connector to its target.
    CheckConfig,
    /// Show the TLS certificate the host serves (generating it if none exists yet).
    Cert,
    /// Create a new secret token for a connector and print the line for the configuration.
    Token {
        /// The connector the token is for (only used in the printed instructions).
        connector: String,
    },
    /// Connector operations.
    Connector {
        #[command(subcommand)]
        action: ConnectorAction,
    },
    /// Run a full import of a connector now, with progress.
    Import {
        /// The connector.
        connector: String,
    },
    /// Look into a connector space.
    Space {
        #[command(subcommand)]
        action: SpaceAction,
    },
    /// Before go-live: report which of the connector's accounts Entra will match to which of its
    /// users, which users it will create, and which accounts it will leave alone or fail on.
    /// Writes one CSV per list into the data directory (the console shows the last report).
    Match(MatchArgs),
}

/// The arguments of `match`.
#[derive(clap::Args, Debug, Clone)]
pub struct MatchArgs {
    /// The connector whose accounts (the users in its connector space) are matched.
    pub connector: String,
    /// The Entra users: the CSV the Entra admin center downloads (Users > All users > Download
    /// users), or Microsoft Graph `GET /users` pages saved as JSON, one file per page. Repeat for
    /// several files.
    #[arg(long, required = true)]
    pub entra: Vec<PathBuf>,
    /// A matching rule ENTRA_ATTRIBUTE=TARGET_ATTRIBUTE, e.g. userPrincipalName=UserName; the
    /// target attribute as the connector names it (or its SCIM name). Repeat in the order of
    /// the Entra app's matching precedence: the first rule that finds an account decides.
    #[arg(long = "on", required = true)]
    pub on: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ConnectorAction {
    /// Connect to the target, and show what was reached and the discovered schema.
    Test { connector: String },
}

#[derive(Subcommand, Debug)]
pub enum SpaceAction {
    /// Object counts and recent import runs.
    Stats { connector: String },
    /// List objects of a type, in anchor order.
    List {
        connector: String,
        #[arg(long, default_value = "User")]
        object_type: String,
        #[arg(long, default_value_t = 1)]
        start: u64,
        #[arg(long, default_value_t = 20)]
        count: u64,
    },
    /// Show one object by anchor.
    Show {
        connector: String,
        anchor: String,
        #[arg(long, default_value = "User")]
        object_type: String,
    },
    /// List the exports the target accepted but queued (e.g. MIM approvals), oldest first,
    /// each with what it waits for and since when.
    Pending {
        connector: String,
        #[arg(long, default_value_t = 100)]
        count: u64,
    },
    /// Find objects by an indexed attribute value.
    Search {
        connector: String,
        attribute: String,
        value: String,
        #[arg(long, default_value = "User")]
        object_type: String,
    },
    /// Bring every connector space to this build's schema and say from which version: each
    /// connector's SQLite file, or the shared PostgreSQL database. The host does the same when
    /// it opens a space; this does it ahead of a start (several hosts, an upgrade window).
    Migrate,
}

/// Reads the configuration, every connector's own settings included: each command that reads
/// the configuration reads it here, so each refuses the same mistakes.
fn load(path: &Path) -> Result<(Config, Connectors)> {
    registry::load(path)
        .with_context(|| format!("while reading the configuration {}", path.display()))
}

/// The runtime of connector `name`; `control` is where its imports report progress.
fn runtime(
    config: &Config,
    connectors: &Connectors,
    name: &str,
    control: Arc<ImportControl>,
) -> Result<crate::engine::Runtime> {
    let c = config
        .connector(name)
        .with_context(|| format!("no connector named {name:?} in {}", config.source.display()))?;
    config
        .connector_token(c)
        .map_err(|e| ConnectorError::misconfigured(e.to_string()))
        .and_then(|token| {
            build_runtime(
                config,
                c,
                connectors,
                token,
                Arc::new(Metrics::default()),
                control,
                &config.host_id(config.server.listen.port()),
            )
        })
        .with_context(|| format!("while starting connector {name}"))
}

/// Runs the command line.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => {
            let (config, connectors) = load(&cli.config)?;
            init_logging(config.server.log_format);
            serve(config, connectors)
        }
        Command::Demo {
            dir,
            port,
            connector,
        } => {
            init_logging(crate::config::LogFormat::Text);
            let demo = crate::demo::prepare(connector, &dir, port)?;
            let (config, connectors) = load(&demo.config_path)?;
            crate::demo::print_banner(&config, &demo, port)?;
            // The target (a private server, say) lives as long as the host serves.
            let _target = demo.keep;
            serve(config, connectors)
        }
        Command::Init { dir, name } => crate::demo::init(&dir, &name),
        Command::CheckConfig => {
            let (config, connectors) = load(&cli.config)?;
            for c in &config.connectors {
                let rt = runtime(&config, &connectors, &c.name, Arc::default())?;
                let reached = rt
                    .connector
                    .test_connection(Deadline::after(TARGET_CALL_BUDGET))
                    .with_context(|| format!("connector {}", c.name))?;
                println!(
                    "{}: ok ({reached}); endpoint /ecma2host_{}/scim",
                    c.name, c.name
                );
            }
            match &config.server.space.url {
                Some(url)
                    if config.server.space.backend == crate::config::SpaceBackend::Postgres =>
                {
                    println!(
                        "connector spaces: postgres at {url} (import lease {}), shared by every host configured so",
                        config.server.space.import_lease
                    )
                }
                _ => println!(
                    "connector spaces: sqlite files in {}",
                    config.data_dir().join("space").display()
                ),
            }
            println!("host id: {}", config.host_id(config.server.listen.port()));
            println!("{}: configuration is valid", config.source.display());
            Ok(())
        }
        Command::Cert => {
            let (config, _) = load(&cli.config)?;
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let material = crate::tls::TlsSource::from_config(&config)?.load()?;
            let info = certs::inspect(&material)?;
            println!("subject:     {}", info.subject);
            println!("names:       {}", info.sans.join(", "));
            println!("valid:       {} .. {}", info.not_before, info.not_after);
            println!("key:         {}", info.key);
            println!("SHA-256:     {}", info.fingerprint_sha256);
            for w in certs::check_policy(&info, time::OffsetDateTime::now_utc())? {
                println!("warning:     {w}");
            }
            Ok(())
        }
        Command::Token { connector } => {
            let token = generate_token();
            let hash = TokenHash::of_token(&token).map_err(anyhow::Error::msg)?;
            println!(
                "New secret token for connector {connector} (shown once; paste it into the Entra app's Secret Token field):\n\n    {token}\n"
            );
            println!(
                "Put this line into the connector's [[connector]] table, replacing its token line, then restart:\n\n    token = {{ hash = \"{}\" }}",
                hash.to_config_string()
            );
            Ok(())
        }
        Command::Connector {
            action: ConnectorAction::Test { connector },
        } => {
            let (config, connectors) = load(&cli.config)?;
            config
                .connector(&connector)
                .with_context(|| format!("no connector named {connector:?}"))?;
            let conn = connectors
                .build(&connector)
                .with_context(|| format!("while creating connector {connector}"))?;
            let reached = conn
                .test_connection(Deadline::after(TARGET_CALL_BUDGET))
                .with_context(|| format!("while connecting connector {connector}"))?;
            println!("{connector}: {reached}");
            let schema = conn.schema(Deadline::after(TARGET_CALL_BUDGET))?;
            for t in &schema.object_types {
                println!("object type {} (anchor {}):", t.name, t.anchor_attribute);
                for a in &t.attributes {
                    println!(
                        "  {:<32} {:?}{}{}",
                        a.name,
                        a.kind,
                        if a.multi_valued { ", multi-valued" } else { "" },
                        if a.required { ", required" } else { "" }
                    );
                }
            }
            Ok(())
        }
        Command::Import { connector } => {
            let (config, connectors) = load(&cli.config)?;
            init_logging(config.server.log_format);
            let control = Arc::new(ImportControl::default());
            let rt = runtime(&config, &connectors, &connector, control.clone())?;
            let bar = progress_bar();
            let started = std::time::Instant::now();
            // Without a terminal (a service log), a progress line every few seconds.
            let last_line = std::cell::Cell::new(None::<std::time::Instant>);
            control.start(crate::imports::ImportKind::Full);
            let results = crate::imports::full_import(&rt, &|t, n, total| {
                control.progress(t, n, total);
                let Some(running) = control.running() else {
                    return;
                };
                let line = running.describe(time::OffsetDateTime::now_utc());
                match &bar {
                    Some(b) => {
                        b.set_message(line);
                        b.tick();
                    }
                    None if last_line
                        .get()
                        .is_none_or(|l| l.elapsed() >= PROGRESS_EVERY) =>
                    {
                        last_line.set(Some(std::time::Instant::now()));
                        eprintln!("{line}");
                    }
                    None => {}
                }
            })?;
            control.finish(None);
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            for (t, s) in results {
                println!(
                    "{t}: {} added, {} updated, {} unchanged, {} removed",
                    s.added, s.updated, s.unchanged, s.removed
                );
            }
            println!(
                "full import of {connector} finished in {:.1?}",
                started.elapsed()
            );
            Ok(())
        }
        Command::Space { action } => space(&cli.config, action),
        Command::Match(args) => {
            let (config, connectors) = load(&cli.config)?;
            init_logging(config.server.log_format);
            let (dir, summary) = match_report(&config, &connectors, &args)?;
            print_match_summary(&dir, &summary);
            Ok(())
        }
    }
}

/// Makes the matching report of `args.connector` against an Entra export and keeps it as the
/// connector's last report (in `<data_dir>/match/<connector>/`); returns that directory and the
/// report's summary.
pub fn match_report(
    config: &Config,
    connectors: &Connectors,
    args: &MatchArgs,
) -> Result<(PathBuf, crate::matching::Summary)> {
    use crate::matching::{self, ReportWriter, Rule, TargetAccount};

    let mut rules = args
        .on
        .iter()
        .map(|r| Rule::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = runtime(config, connectors, &args.connector, Arc::default())?;
    let binding = &rt.users;
    let mut sides = Vec::new();
    for rule in &mut rules {
        let (side, case_exact) = match_target(binding, &rule.target)?;
        rule.case_exact = case_exact;
        sides.push(side);
    }
    let entra_attributes: Vec<String> = rules.iter().map(|r| r.entra.clone()).collect();
    let users = matching::read_users(&args.entra, &entra_attributes)
        .context("while reading the Entra export")?;
    let dir = matching::store::report_dir(&config.data_dir(), &args.connector);
    let mut writer = ReportWriter::create(
        &dir,
        &args.connector,
        &args.entra,
        &rules,
        users.len() as u64,
    )?;
    let space = &rt.space;
    let object_type = &binding.object_type;
    matching::run(
        &users,
        &rules,
        |visit| {
            let mut after = None;
            loop {
                let page = space
                    .scan(object_type, after.as_ref(), 1000)
                    .map_err(|e| matching::MatchError::Target(e.to_string()))?;
                let Some(last) = page.last() else {
                    return Ok(());
                };
                after = Some(last.object.anchor.clone());
                for s in &page {
                    let values = sides
                        .iter()
                        .map(|side| match side {
                            MatchTarget::Anchor => vec![s.object.anchor.to_string()],
                            MatchTarget::Dn => s.object.dn.iter().cloned().collect(),
                            MatchTarget::Attribute(a) => {
                                s.object.values(a).iter().map(|v| v.to_text()).collect()
                            }
                        })
                        .collect();
                    visit(TargetAccount {
                        anchor: s.object.anchor.to_string(),
                        values,
                    })?;
                }
            }
        },
        &mut writer,
    )?;
    let summary = writer.finish()?;
    Ok((dir, summary))
}

/// Where a rule's target value is read from.
enum MatchTarget {
    Anchor,
    Dn,
    Attribute(String),
}

/// The connector attribute a rule's target names (as the connector spells it, or as its SCIM
/// attribute), and whether its values compare case-sensitively.
fn match_target(
    binding: &crate::engine::binding::Binding,
    name: &str,
) -> Result<(MatchTarget, bool)> {
    use crate::engine::binding::FilterTarget;
    match binding.target_named(name) {
        Some(FilterTarget::Anchor) => Ok((MatchTarget::Anchor, true)),
        Some(FilterTarget::Dn) => Ok((MatchTarget::Dn, false)),
        Some(FilterTarget::Attribute(a)) => {
            let exact = binding.is_case_exact(&a);
            Ok((MatchTarget::Attribute(a), exact))
        }
        None => bail!(
            "the connector has no attribute {name:?} to match on; it has: {}",
            binding.mapped_attributes().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn print_match_summary(dir: &Path, s: &crate::matching::Summary) {
    use crate::matching::List;
    println!(
        "matching report of {}: {} Entra users, {} target accounts, rules {}",
        s.connector,
        s.entra_users,
        s.target_accounts,
        s.rules.join(", then ")
    );
    for list in List::ALL {
        println!(
            "  {:>8}  {}  ({})",
            s.count(list),
            list.title(),
            dir.join(format!("{}.csv", list.name())).display()
        );
    }
    if s.entra_users_failing > 0 {
        println!(
            "  {} Entra users match several target accounts; Entra will fail them",
            s.entra_users_failing
        );
    }
}

/// How often `import` prints a progress line when stderr is not a terminal.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(b)
}

fn space(config_path: &Path, action: SpaceAction) -> Result<()> {
    let (config, _) = load(config_path)?;
    if !matches!(action, SpaceAction::Migrate)
        && config.server.space.backend == crate::config::SpaceBackend::Postgres
    {
        bail!(
            "the space commands read the SQLite spaces; with backend = \"postgres\" look into a space through the console or GET /ecma2host_<name>/space"
        );
    }
    let open = |name: &str| -> Result<crate::space::Space> {
        let path = space_path(&config, name);
        if !path.exists() {
            bail!(
                "connector {name} has no connector space yet ({} does not exist); start the host or run `connector-host import {name}`",
                path.display()
            );
        }
        Ok(crate::space::Space::open_as_stored(&path)?)
    };
    let print = |s: &crate::space::StoredObject| {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::http::stored_json(s)).unwrap_or_default()
        );
    };
    match action {
        SpaceAction::Migrate => migrate(&config)?,
        SpaceAction::Stats { connector } => {
            let space = open(&connector)?;
            for r in space.runs(10)? {
                println!(
                    "run {:>4} {:<5} {:<10} {} on {} → {:<24} +{} ~{} ={} -{}",
                    r.id,
                    r.kind,
                    r.object_type,
                    r.started,
                    r.host.as_deref().unwrap_or("-"),
                    r.outcome,
                    r.stats.added,
                    r.stats.updated,
                    r.stats.unchanged,
                    r.stats.removed
                );
                for note in r.notes.iter().flat_map(|n| n.lines()) {
                    println!("         {note}");
                }
            }
        }
        SpaceAction::Pending { connector, count } => {
            let space = open(&connector)?;
            let pending = space.pending(count)?;
            println!("{} pending exports in {connector}", pending.len());
            for p in &pending {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::http::pending_json(p)).unwrap_or_default()
                );
            }
        }
        SpaceAction::List {
            connector,
            object_type,
            start,
            count,
        } => {
            let space = open(&connector)?;
            println!(
                "{} objects of type {object_type}",
                space.count(&object_type)?
            );
            for s in space.list(&object_type, start.saturating_sub(1), count)? {
                print(&s);
            }
        }
        SpaceAction::Show {
            connector,
            anchor,
            object_type,
        } => {
            let space = open(&connector)?;
            match space.get(&object_type, &Anchor(anchor.clone()))? {
                Some(s) => print(&s),
                None => bail!(
                    "no {object_type} with anchor {anchor:?} in the connector space of {connector}"
                ),
            }
        }
        SpaceAction::Search {
            connector,
            attribute,
            value,
            object_type,
        } => {
            let c = config
                .connector(&connector)
                .with_context(|| format!("no connector named {connector:?}"))?;
            let _ = c;
            let space = open(&connector)?;
            let mut found = 0;
            let mut after = None;
            loop {
                let batch = space.scan(&object_type, after.as_ref(), 1000)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.object.anchor.clone());
                for s in &batch {
                    if s.object
                        .values(&attribute)
                        .iter()
                        .any(|v| v.to_text().eq_ignore_ascii_case(&value))
                    {
                        print(s);
                        found += 1;
                    }
                }
            }
            println!("{found} found");
        }
    }
    Ok(())
}

/// `space migrate`: every connector's SQLite file upgraded in place (a connector without a
/// space yet is skipped), or the PostgreSQL database's schema.
fn migrate(config: &Config) -> Result<()> {
    if let Some(pg) = config.postgres_space()? {
        let (from, to) =
            crate::assemble::postgres::migrate(&pg.url, pg.password.as_ref().map(|p| p.expose()))
                .with_context(|| format!("while migrating the connector spaces in {}", pg.url))?;
        println!("{}: schema version {from} → {to}", pg.url);
        return Ok(());
    }
    for c in &config.connectors {
        let path = space_path(config, &c.name);
        if !path.exists() {
            println!(
                "{}: no connector space yet ({}); the host creates it at the current version",
                c.name,
                path.display()
            );
            continue;
        }
        let (from, to) = crate::space::Space::migrate_file(&path)
            .with_context(|| format!("while migrating {}", path.display()))?;
        match from {
            Some(v) if v == to => println!(
                "{}: schema version {to}, current ({})",
                c.name,
                path.display()
            ),
            Some(v) => println!("{}: schema version {v} → {to} ({})", c.name, path.display()),
            None => println!(
                "{}: new connector space at schema version {to} ({})",
                c.name,
                path.display()
            ),
        }
    }
    Ok(())
}

fn serve(config: Config, connectors: Connectors) -> Result<()> {
    let listen = config.server.listen;
    let listener = std::net::TcpListener::bind(listen).with_context(|| {
        format!("while binding {listen} (is another connector-host or ECMA host running?)")
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("while starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|e| tracing::warn!("cannot listen for SIGTERM: {e}"))
                    .ok();
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
            tracing::info!("shutting down");
        };
        crate::server::serve(config, connectors, listener, shutdown).await
    })
    .context("connector-host stopped with an error")
}
