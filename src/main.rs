//! The command line: parse arguments, load and validate config, init logs, run, map errors to exit
//! codes (0 ok, 1 runtime failure, 2 bad usage or config).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use anomaly_detector::config::{self, Config, OutputFormat};
use anomaly_detector::parse::FormatChoice;
use anomaly_detector::scan::{ScanOptions, ScanOutput};

const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

/// Finds anomalies in application logs (from Loki, files or stdin) with unsupervised models and
/// rules, and reports them as Prometheus metrics, incidents and alerts.
///
/// Try it: `anomaly-detector demo` runs the whole pipeline on built-in traffic with injected
/// incidents and serves http://127.0.0.1:9797/metrics. Every config key can also be set with
/// ANOMALY_DETECTOR__SECTION__KEY; LOG_LEVEL or RUST_LOG set verbosity.
#[derive(Debug, Parser)]
#[command(name = "anomaly-detector", version, propagate_version = true)]
struct Cli {
    /// Log format of the detector's own logs (stderr). Overrides `log.format`.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: read from the configured source (Loki by default), detect, serve /metrics.
    Run {
        /// TOML config file (see config/default.toml). Without it: built-in defaults + environment.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// With `source.kind = "file"`: keep reading the files as they grow (like `tail -F`).
        #[arg(long)]
        follow: bool,
    },
    /// Run the whole pipeline on built-in demo traffic with scheduled incidents (no Loki needed).
    Demo {
        /// TOML config file layered over the demo settings.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address for /metrics and the API (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Scan log files (or stdin) once and print the anomalous lines.
    ///
    /// Without --train, learns from the first `detection.training_events` lines of the input, then
    /// scores every line. Exit code 0 whether or not anomalies were found.
    Scan {
        /// Files to scan, in order; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
        /// Learn normal traffic from this file first, then score all of the input.
        #[arg(long)]
        train: Option<PathBuf>,
        /// Line format: `auto` (detected per line, the default), `json`, `logfmt`, `access`,
        /// `text`, or a server preset (`nginx`, `nginx-json`, `ingress-nginx`, `apache`,
        /// `apache-secs`, `apache-ms`, `gunicorn`, `werkzeug`, `traefik-json`, `traefik-clf`,
        /// `caddy`, `envoy`, `haproxy`, `alb`, `elb`, `cloudfront`, `iis`/`w3c`, `squid`, `s3`,
        /// `cloud-storage`).
        #[arg(long, value_parser = clap::value_parser!(FormatChoice))]
        format: Option<FormatChoice>,
        /// `text` for people, `jsonl` for programs (JSON only on stdout).
        #[arg(long, value_enum, default_value = "text")]
        output: ScanOutput,
        /// TOML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// No progress bar even on a terminal.
        #[arg(long)]
        no_progress: bool,
        /// Redact secrets in what is printed, as the daemon does in every output (by default a
        /// scan shows your own lines as they are).
        #[arg(long)]
        redact: bool,
    },
    /// List the message templates of log files (or stdin), as the template stage finds them.
    ///
    /// Structured lines (JSON, logfmt) are templated by their message field, other lines whole
    /// (the miner leaves a header of time, level and component out). `--output jsonl` writes one
    /// object per input line once the input has ended: `{"line": N, "pattern": "<id>",
    /// "template": "<text>"}`, line numbers 1-based across the files.
    Patterns {
        /// Files to read, in order; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
        /// Line format, as for `scan`.
        #[arg(long, value_parser = clap::value_parser!(FormatChoice))]
        format: Option<FormatChoice>,
        /// `text`: the templates, most frequent first; `jsonl`: one object per input line.
        #[arg(long, value_enum, default_value = "text")]
        output: anomaly_detector::patterns::cli::PatternsOutput,
        /// TOML config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Measure detection quality on generated, labelled traffic (labels kept outside the lines).
    ///
    /// Prints precision, recall, F1, incidents found, time to detect and false alarms per scenario
    /// as a markdown table (the README's table comes from `scripts/eval.sh`).
    Eval {
        /// Scenarios to run (default: all): latency_spike, lone_slow, error_burst,
        /// new_failing_endpoint, scanner, large_responses, traffic_drop, clean_day, mixed, app_log (an
        /// application log among the requests: a new error message, a warning surge, slow queries); and with
        /// incidents inside the learned history: dirty_start, dirty_train, live_mid_incident,
        /// sweep_10k, sweep_50k, sweep_200k.
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// Log format of the generated traffic.
        #[arg(long, value_enum, default_value = "both")]
        format: EvalFormat,
        /// Seed of the generated traffic.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print JSON instead of markdown.
        #[arg(long)]
        json: bool,
        /// Instead of evaluating, write the first scenario's log to FILE and its labels to
        /// FILE.labels.jsonl (one object per line: `line`, `label`, `incident`).
        #[arg(long, value_name = "FILE")]
        dump: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Send one sample alert through every configured channel and report each result.
    AlertTest {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Load and validate a config file; print the problem (with its key) or "ok".
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the daemon at URL answers /healthz (for container health checks without curl).
    Healthcheck {
        /// Base URL of the daemon. Default: from server.listen.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Accept a new normal for an endpoint of the running daemon (after a deploy): it forgets the
    /// endpoint's baseline and relearns it from new traffic; the models and other endpoints stay.
    ///
    /// Prints what was reset as JSON. Exit 1 if the daemon refuses (an unknown endpoint, a missing
    /// or wrong token) or is unreachable. Sends the API token of the same config
    /// (ANOMALY_DETECTOR__SERVER__API_TOKEN or server.api_token_file), or of --token-file.
    Rebaseline {
        /// The endpoint as the detector names it ("GET /api/users/{id}"; a concrete path such as
        /// "GET /api/users/42" is mapped to its template), or `*` for every endpoint.
        endpoint: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Mark an incident of the running daemon as a false alarm: anomalies like it (same kind and
    /// endpoint, or client for a scanner, scoring at most as high) are learned as normal and no
    /// longer reported. `--undo` takes it back. Ids are in `GET /api/v1/incidents` and in alerts.
    ///
    /// Prints the dismissal as JSON. Exit 1 if the daemon refuses (no recent incident with that id,
    /// a missing or wrong token) or is unreachable. Sends the API token as `rebaseline` does.
    Dismiss {
        /// The incident's id.
        incident: String,
        /// Undo an earlier dismissal.
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
}

/// How `rebaseline` and `dismiss` reach the running daemon.
#[derive(Debug, clap::Args)]
struct DaemonArgs {
    /// Base URL of the daemon. Default: from server.listen.
    #[arg(long)]
    url: Option<String>,
    /// File holding the API token (trimmed). Default: the config's token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EvalFormat {
    Json,
    Combined,
    Both,
}

/// Exit code 2: the config (or usage) is wrong.
#[derive(Debug)]
struct BadConfig(config::ConfigError);

impl std::fmt::Display for BadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}
impl std::error::Error for BadConfig {}

/// Exit code 2: an input named on the command line cannot be read. Checked before anything is
/// scanned, so a typo in the last of several files does not cost the scan of the others.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

/// Every named input can be opened as a file (`-` is stdin); one that starts with NUL bytes is
/// read anyway, with a warning that it looks binary.
fn check_inputs<'a>(inputs: impl IntoIterator<Item = &'a PathBuf>) -> Result<(), BadInput> {
    use std::io::Read;
    for path in inputs {
        if path.as_os_str() == "-" {
            continue;
        }
        let shown = path.display();
        if path.is_dir() {
            return Err(BadInput(format!("cannot read {shown}: it is a directory")));
        }
        let mut head = [0u8; 8192];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| BadInput(format!("cannot read {shown}: {}", io_reason(&e))))?;
        if head[..n].contains(&0) {
            tracing::warn!(file = %shown, "The file looks binary (it holds NUL bytes); its lines are read as text, invalid UTF-8 replaced");
        }
    }
    Ok(())
}

/// The OS error without its `(os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn load(path: Option<&PathBuf>, base: Option<&str>) -> Result<Config, BadConfig> {
    match base {
        Some(b) => config::load_with_base(b, path.map(|p| p.as_path())),
        None => config::load(path.map(|p| p.as_path())),
    }
    .map_err(BadConfig)
}

/// A labelled traffic scenario by name; an unknown name is a usage error (exit 2).
fn named_scenario(
    name: &str,
    seed: u64,
    format: anomaly_detector::source::demo::LineFormat,
) -> Result<anomaly_detector::eval::Setup, BadConfig> {
    use anomaly_detector::eval::{setup, HISTORY_SCENARIOS};
    use anomaly_detector::source::demo::SCENARIOS;
    setup(name, seed, format).ok_or_else(|| {
        BadConfig(config::ConfigError::Invalid {
            key: "--scenario".into(),
            problem: format!(
                "unknown scenario {name:?}; expected one of {}, {}",
                SCENARIOS.join(", "),
                HISTORY_SCENARIOS.join(", ")
            ),
        })
    })
}

/// The daemon's base URL: `--url`, else from `server.listen`.
fn daemon_url(url: Option<&str>, config: Option<&PathBuf>) -> Result<String, BadConfig> {
    Ok(match url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://{}", load(config, None)?.server.listen.replace("0.0.0.0", "127.0.0.1")),
    })
}

/// The API token sent to the daemon: `--token-file`, else the config's (environment or
/// `server.api_token_file`).
fn api_token(token_file: Option<&PathBuf>, config: Option<&PathBuf>) -> Result<Option<String>, BadConfig> {
    let Some(path) = token_file else { return load(config, None)?.server.api_token().map_err(BadConfig) };
    let invalid = |problem: String| BadConfig(config::ConfigError::Invalid { key: "--token-file".into(), problem });
    let token =
        std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read {}: {}", path.display(), e.kind())))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid("the token is empty".into()));
    }
    Ok(Some(token.to_string()))
}

fn init_logs(cli: &Cli, cfg: Option<&Config>) {
    let format = match cli.log_format {
        Some(LogFormat::Json) => OutputFormat::Json,
        Some(LogFormat::Text) => OutputFormat::Text,
        None => cfg.map_or(OutputFormat::Text, |c| c.log.format),
    };
    anomaly_detector::telemetry::init(format);
}

fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("Shutting down");
        t.cancel();
    });
    token
}

async fn run_daemon(cfg: Config) -> anyhow::Result<()> {
    anomaly_detector::app::run(cfg, shutdown_on_signals()).await.map_err(exit_error)
}

/// A setting that cannot be used is bad config (exit code 2); anything else a runtime failure.
fn exit_error(e: anomaly_detector::app::AppError) -> anyhow::Error {
    match e.config_error() {
        Some((key, problem)) => {
            BadConfig(config::ConfigError::Invalid { key: key.into(), problem: problem.into() }).into()
        }
        None => e.into(),
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Run { config, follow } => {
            let mut cfg = load(config.as_ref(), None)?;
            cfg.source.follow |= *follow;
            init_logs(&cli, Some(&cfg));
            tracing::info!(
                source = cfg.source.kind.as_str(),
                version = env!("CARGO_PKG_VERSION"),
                "Starting anomaly-detector"
            );
            run_daemon(cfg).await?;
        }
        Command::Demo { config, listen } => {
            let mut cfg = load(config.as_ref(), Some(DEMO_CONFIG))?;
            cfg.source.kind = config::SourceKind::Demo;
            if let Some(l) = listen {
                cfg.server.listen = l.clone();
                cfg.validate().map_err(BadConfig)?;
            }
            init_logs(&cli, Some(&cfg));
            tracing::info!(
                rps = cfg.source.demo_requests_per_sec,
                history_secs = cfg.source.demo_history_secs,
                "Demo: generating traffic with scheduled incidents; metrics on http://{}/metrics, incidents on /api/v1/incidents",
                cfg.server.listen
            );
            run_daemon(cfg).await?;
        }
        Command::Scan { files, train, format, output, config, no_progress, redact } => {
            let mut cfg = load(config.as_ref(), None)?;
            cfg.server.enabled = false;
            if let Some(f) = format {
                cfg.parse.format = *f;
            }
            init_logs(&cli, Some(&cfg));
            check_inputs(files.iter().chain(train.iter()))?;
            let opts = ScanOptions {
                inputs: files.clone(),
                train: train.clone(),
                output: *output,
                progress: !no_progress,
                redact: *redact,
            };
            let summary = tokio::task::spawn_blocking(move || {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                anomaly_detector::scan::run(&cfg, &opts, &mut out)
            })
            .await
            .context("scan task")??;
            tracing::info!(
                lines = summary.lines,
                anomalies = summary.anomalies,
                incidents = summary.incidents.len(),
                "Scan finished"
            );
        }
        Command::Patterns { files, format, output, config } => {
            let mut cfg = load(config.as_ref(), None)?;
            if let Some(f) = format {
                cfg.parse.format = *f;
            }
            init_logs(&cli, Some(&cfg));
            check_inputs(files)?;
            let (files, output) = (files.clone(), *output);
            let summary = tokio::task::spawn_blocking(move || {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                anomaly_detector::patterns::cli::run(&files, &cfg.parse, output, &mut out)
            })
            .await
            .context("patterns task")??;
            tracing::info!(lines = summary.lines, templates = summary.templates, "Patterns finished");
        }
        Command::Eval { scenarios, format, seed, json, config, dump } => {
            use anomaly_detector::source::demo::{LineFormat, SCENARIOS};
            if let Some(path) = dump {
                let name = scenarios.first().map_or("mixed", |s| s.as_str());
                let f = if *format == EvalFormat::Combined { LineFormat::Combined } else { LineFormat::Json };
                let traffic = named_scenario(name, *seed, f)?.traffic;
                let n = anomaly_detector::eval::dump(traffic, path)?;
                println!("wrote {n} lines to {} and labels to {}.labels.jsonl", path.display(), path.display());
                return Ok(());
            }
            let mut cfg = load(config.as_ref(), None)?;
            cfg.server.enabled = false;
            init_logs(&cli, Some(&cfg));
            let names: Vec<String> = if scenarios.is_empty() {
                SCENARIOS
                    .iter()
                    .chain(anomaly_detector::eval::HISTORY_SCENARIOS.iter())
                    .map(|s| s.to_string())
                    .collect()
            } else {
                scenarios.clone()
            };
            let formats: Vec<LineFormat> = match format {
                EvalFormat::Json => vec![LineFormat::Json],
                EvalFormat::Combined => vec![LineFormat::Combined],
                EvalFormat::Both => vec![LineFormat::Json, LineFormat::Combined],
            };
            let (seed, json) = (*seed, *json);
            let results = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<_>> {
                let mut results = Vec::new();
                for name in &names {
                    for f in &formats {
                        let setup = named_scenario(name, seed, *f)?;
                        tracing::info!(scenario = %name, format = ?f, "Evaluating");
                        results.push(anomaly_detector::eval::run_setup(&cfg, name, setup).map_err(anyhow::Error::msg)?);
                    }
                }
                Ok(results)
            })
            .await
            .context("eval task")??;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{}", anomaly_detector::eval::markdown(&results));
            }
        }
        Command::AlertTest { config } => {
            let cfg = load(config.as_ref(), None)?;
            init_logs(&cli, Some(&cfg));
            if !cfg.alerting.has_channels() {
                anyhow::bail!("no alert channel is configured ([[alerting.slack]], [[alerting.email]], ...)");
            }
            let results = anomaly_detector::sink::alert::send_test_alert(&cfg.alerting).await;
            let mut failed = 0;
            for (channel, result) in &results {
                match result {
                    Ok(()) => println!("ok      {channel}"),
                    Err(e) => {
                        failed += 1;
                        println!("FAILED  {channel}: {e}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} channels failed", results.len());
            }
        }
        Command::CheckConfig { config } => {
            let cfg = load(config.as_ref(), None)?;
            // Exactly what `run` checks before it starts (secret files, `*_env` variables, state.dir).
            let checked = anomaly_detector::app::preflight(&cfg).map_err(exit_error)?;
            if let Some(problem) = &checked.state_problem {
                eprintln!("warning: state.dir: {problem}; run would go on without persistence");
            }
            if let Some((line, _)) = checked.describe_shard(&cfg) {
                println!("{line}");
            }
            println!(
                "ok: source={} interval={}s anomaly_threshold={} columns={}",
                cfg.source.kind.as_str(),
                cfg.detection.interval_secs,
                cfg.detection.anomaly_threshold,
                cfg.features.columns.join(",")
            );
        }
        Command::Healthcheck { url, config } => {
            let url = daemon_url(url.as_deref(), config.as_ref())?;
            let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
            let resp = client.get(format!("{url}/healthz")).send().await.with_context(|| format!("{url}/healthz"))?;
            if !resp.status().is_success() {
                anyhow::bail!("{url}/healthz answered {}", resp.status());
            }
            println!("healthy: {url}");
        }
        Command::Rebaseline { endpoint, daemon } => {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
            let url = daemon_url(daemon.url.as_deref(), daemon.config.as_ref())?;
            let request = client.post(format!("{url}/api/v1/rebaseline")).query(&[("endpoint", endpoint)]);
            println!("{}", call_api(&client, request, daemon).await?);
        }
        Command::Dismiss { incident, undo, daemon } => {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
            let url = daemon_url(daemon.url.as_deref(), daemon.config.as_ref())?;
            let path = format!("{url}/api/v1/incidents/{}/dismiss", percent_encode_segment(incident));
            let request = if *undo { client.delete(path) } else { client.post(path) };
            println!("{}", call_api(&client, request, daemon).await?);
        }
    }
    Ok(())
}

/// Send a mutating API request with the API token; the daemon's JSON answer, or its error.
async fn call_api(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
    daemon: &DaemonArgs,
) -> anyhow::Result<serde_json::Value> {
    let mut request = request;
    if let Some(token) = api_token(daemon.token_file.as_ref(), daemon.config.as_ref())? {
        request = request.bearer_auth(token);
    }
    let request = request.build()?;
    let target = request.url().clone();
    let resp = client.execute(request).await.with_context(|| target.to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the daemon's answer")?;
    if !status.is_success() {
        anyhow::bail!("{status}: {}", body["error"].as_str().unwrap_or("no reason given"));
    }
    Ok(body)
}

/// An incident id as one URL path segment (ids are hex and digits; anything else is escaped).
fn percent_encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn main() -> ExitCode {
    anomaly_detector::memory::limit_arenas();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(real_main(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<BadConfig>().is_some() || e.downcast_ref::<BadInput>().is_some() {
                eprintln!("error: {e}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}
