//! `orca replay SESSION_ID [--data DIR]`: re-runs a session from the journal
//! of `orca serve` (nothing is performed again) and prints its trace as
//! JSON Lines, in the records of `orca run --trace`
//! ([`runner::trace::TraceRecord`]): for each journaled input an `input`
//! line (what and when), the `microstep` and `log` lines it caused and the
//! `configuration` after it; `done` or `stopped` last if the session ended.
//! `GET /sessions/{id}/trace` answers the same records as a JSON array.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// The arguments of `orca replay`.
#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// The session id (`sessionid` of the start answer).
    session: String,
    /// The server's data directory [default: ./orca-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Prints the trace; exit status 0, or an error naming the problem.
pub(crate) fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let data = args
        .data
        .unwrap_or_else(|| PathBuf::from(server::DEFAULT_DATA_DIR));
    let records = server::replay(&data, &args.session)
        .with_context(|| format!("cannot replay {} from {}", args.session, data.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for record in records {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
