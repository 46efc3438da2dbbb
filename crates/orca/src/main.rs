//! `orca`: the command-line tool of the Orca orchestration server.
//!
//! - `orca validate FILE...` checks SCXML documents.
//! - `orca run CHART` runs one chart with the `runner` host and writes JSON
//!   Lines (see `output`); `--sessions` runs the session benchmark.
//! - `orca serve` runs the orchestration server (see `serve`).
//! - `orca replay SESSION_ID` re-runs a journaled session (see `replay`).
//!
//! Exit status: 0 when the session reached a top-level final state (or every
//! document is valid), 1 otherwise, 2 for an invalid document.

mod fetch;
mod output;
mod replay;
mod run;
mod serve;
mod sessions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use runner::load_document;
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::document::FileLoader;

#[derive(Parser)]
#[command(
    name = "orca",
    version,
    about = "Orca: SCXML orchestration for contact centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check SCXML documents: prints `FILE: ok`, or `file:line:column: message` on stderr.
    Validate {
        /// The documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a chart, printing its logs and outcome as JSON Lines.
    Run {
        /// The SCXML document.
        chart: PathBuf,
        /// JSON Lines of external events (`-` for stdin): {"name", "data", "after_ms"}.
        #[arg(long, value_name = "FILE")]
        events: Option<String>,
        /// Print the configuration after the first macrostep and after each event line.
        #[arg(long)]
        trace: bool,
        /// Stop after this many seconds of session time (and of wall time).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        /// Use the wall clock: delays take real time (for charts that talk to the outside).
        #[arg(long)]
        real_time: bool,
        /// Benchmark mode: the event file's `session` field starts one session per value.
        #[arg(long, requires = "events", conflicts_with_all = ["trace", "real_time"])]
        sessions: bool,
        /// With --sessions: keep every session alive before the last events, and measure memory.
        #[arg(long, requires = "sessions")]
        live: bool,
        /// Print events/s, chart load time and peak memory (VmHWM) on stderr.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        limits: Limits,
    },
    /// Run the orchestration server (the ORS HTTP API) until ctrl-c or SIGTERM.
    Serve(serve::ServeArgs),
    /// Re-run a journaled session of `orca serve` and print its trace as
    /// JSON Lines, in the records of `orca run --trace` (nothing is sent or
    /// logged again).
    Replay(replay::ReplayArgs),
}

/// Resource limits of every session `orca run` starts.
#[derive(clap::Args)]
struct Limits {
    /// Milliseconds of script time one macrostep may use before its script is
    /// interrupted (the session gets `error.execution` and goes on).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    script_budget_ms: u64,
    /// Microsteps one macrostep may take before the session is stopped (a
    /// document looping on eventless transitions or raised events).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_microsteps: u32,
    /// Script heap, in MiB, of each QuickJS runtime (shared by the sessions on it).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_limit_mib: usize,
}

impl Limits {
    /// The data model settings these limits give.
    fn ecmascript(&self) -> EcmaScriptOptions {
        EcmaScriptOptions {
            script_budget: Duration::from_millis(self.script_budget_ms),
            memory_limit: self.memory_limit_mib.saturating_mul(1024 * 1024),
            ..EcmaScriptOptions::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 1, not clap's 2: 2 means an invalid document.
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("orca: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { files } => Ok(validate(&files)),
        Command::Serve(args) => serve::serve(args),
        Command::Replay(args) => replay::replay(args),
        Command::Run {
            chart,
            events,
            trace,
            timeout,
            real_time,
            sessions,
            live,
            stats,
            limits,
        } => {
            let timeout = timeout
                .map(|secs| {
                    Duration::try_from_secs_f64(secs)
                        .map_err(|_| anyhow::anyhow!("--timeout: {secs} is not a duration"))
                })
                .transpose()?;
            let loading = Instant::now();
            let document = match load_document(&chart, &FileLoader) {
                Ok(document) => Arc::new(document),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let load_time = loading.elapsed();
            if sessions {
                // `requires = "events"` makes clap refuse --sessions without it.
                let events = events.unwrap_or_default();
                return sessions::run_sessions(document, &events, live, &limits);
            }
            let args = run::RunArgs {
                events,
                trace,
                timeout,
                real_time,
                stats,
                max_microsteps: limits.max_microsteps,
                ecmascript: limits.ecmascript(),
            };
            run::run(&args, document, load_time)
        }
    }
}

/// `orca validate`: exit 2 if any document is invalid.
fn validate(files: &[PathBuf]) -> ExitCode {
    let mut valid = true;
    for file in files {
        match load_document(file, &FileLoader) {
            Ok(_) => println!("{}: ok", file.display()),
            Err(e) => {
                valid = false;
                eprintln!("{e}");
            }
        }
    }
    ExitCode::from(if valid { 0 } else { 2 })
}
