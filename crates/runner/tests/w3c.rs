//! The W3C SCXML 1.0 IRP conformance tests for the ECMAScript data model,
//! run in-process through the runner: one trial per row of
//! `shared/conformance/w3c-ecma/MANIFEST.tsv`, reading the files in place.
//!
//! A test passes when its session reaches the top-level `<final id="pass">`
//! (the corpus README). Two manual tests are automated as that README
//! allows: 301 (the document must be rejected) and 415 (the machine halts at
//! once). The Basic HTTP tests run with the `basichttp` crate's gateway on
//! an ephemeral loopback port (only for them, as `orca run` does). Tests that
//! need a person are listed in [`skip_reason`] and reported as ignored. 403 has three documents; it passes only if all three
//! do. The closing line `N passed, N failed` counts tests, not documents.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use runner::{load_document, ClockMode, EcmaRunner, LoadDocumentError, LogEntry, RunnerOptions};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::document::FileLoader;
use scxml::Outcome;

/// The corpus, relative to this crate; the files stay there.
const CORPUS: &str = "../../../shared/conformance/w3c-ecma";

/// Session time a test may use. The longest timers of the suite are a few
/// seconds; with the virtual clock they cost nothing.
const SESSION_TIME_LIMIT: Duration = Duration::from_secs(30);

/// Wall time a test may use, against sessions that keep each other busy.
const WALL_TIME_LIMIT: Duration = Duration::from_secs(20);

/// Microsteps one macrostep may take before the session is stopped.
const MAX_MICROSTEPS: u32 = 10_000;

/// One row of MANIFEST.tsv.
#[derive(Clone, Debug)]
struct Row {
    id: String,
    file: String,
    conformance: String,
    needs: Vec<String>,
    description: String,
}

/// How a row is judged.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Runs to the top-level final `pass`.
    Pass,
    /// 301: the parser must reject the document.
    Rejected,
    /// 415: the session must be over right after its initial macrostep.
    HaltsAtOnce,
}

/// Why a row is not run, or `None` if it is. The one list of skipped tests.
fn skip_reason(row: &Row) -> Option<&'static str> {
    if !row.needs.iter().any(|n| n == "manual") {
        return None;
    }
    match row.id.as_str() {
        "301" | "415" => None,
        "178" => Some("manual: duplicate <param> keys are judged from the log"),
        "230" => Some("manual: the fields of autoforwarded events are judged from the log"),
        "250" => Some("manual: the child's onexit logs are judged by a person"),
        "307" => Some("manual: late-binding reads are judged from the log"),
        "313" => Some("manual: either rejecting the document or raising an error passes"),
        "314" => Some("manual: when the error is raised is judged from the log"),
        "513" => Some("manual: a person POSTs to the access URI and checks the 2xx (the receiver's tests cover it)"),
        _ => Some("manual test"),
    }
}

fn check_for(row: &Row) -> Check {
    match row.id.as_str() {
        "301" => Check::Rejected,
        "415" => Check::HaltsAtOnce,
        _ => Check::Pass,
    }
}

/// Results by test id: its conformance class and one flag per document run.
type Results = Arc<Mutex<BTreeMap<u32, (String, Vec<bool>)>>>;

fn main() {
    let args = Arguments::from_args();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let rows = match read_manifest(&corpus) {
        Ok(rows) => rows,
        Err(message) => {
            let trial = Trial::test("w3c_corpus_present", move || Err(message.into()));
            let conclusion = libtest_mimic::run(&args, vec![trial]);
            println!("0 passed, 1 failed");
            conclusion.exit();
        }
    };

    let results: Results = Arc::default();
    let trials = rows
        .into_iter()
        .map(|row| trial(&corpus, row, Arc::clone(&results)))
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    print_summary(&results);
    conclusion.exit();
}

fn trial(corpus: &Path, row: Row, results: Results) -> Trial {
    let name = row
        .file
        .trim_end_matches(".scxml")
        .trim_end_matches(".txt")
        .to_owned();
    let kind = row.conformance.clone();
    let path = corpus.join(&row.file);
    Trial::ignorable_test(name, move || {
        if let Some(reason) = skip_reason(&row) {
            return Ok(Completion::ignored_with(reason));
        }
        let check = check_for(&row);
        let http = row.needs.iter().any(|n| n == "basichttp");
        // Catch panics here, not only in libtest-mimic, so that the summary
        // counts them as failures.
        let outcome = std::panic::catch_unwind(|| run_document(&path, check, http))
            .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&*panic))));
        if let Ok(id) = row.id.parse::<u32>() {
            if let Ok(mut results) = results.lock() {
                let entry = results
                    .entry(id)
                    .or_insert_with(|| (row.conformance.clone(), Vec::new()));
                entry.1.push(outcome.is_ok());
            }
        }
        outcome.map(|()| Completion::Completed).map_err(|message| {
            Failed::from(format!("{} ({}): {message}", row.file, row.description))
        })
    })
    .with_kind(kind)
}

/// Runs one document and judges it; `http` gives it the Basic HTTP Event
/// I/O Processor.
fn run_document(path: &Path, check: Check, http: bool) -> Result<(), String> {
    let document = match (load_document(path, &FileLoader), check) {
        (Err(LoadDocumentError::Invalid(_)), Check::Rejected) => return Ok(()),
        (Ok(_), Check::Rejected) => {
            return Err("the document was accepted; it must be rejected".to_owned())
        }
        (Ok(document), _) => Arc::new(document),
        (Err(e), _) => return Err(format!("the document was rejected: {e}")),
    };
    let logs: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink_logs = Rc::clone(&logs);
    let options = RunnerOptions {
        clock: ClockMode::virtual_from_now(),
        max_microsteps: MAX_MICROSTEPS,
        ..RunnerOptions::default()
    };
    let mut runner = EcmaRunner::new(
        options,
        EcmaScriptOptions::default(),
        move |entry: &LogEntry<'_>| {
            sink_logs.borrow_mut().push(format!(
                "[{}] {}: {}",
                entry.session_id,
                entry.label.unwrap_or("-"),
                entry.value
            ));
        },
    );
    if http {
        let gateway = basichttp::HttpGateway::start(runner.inbox()).map_err(|e| e.to_string())?;
        runner.set_gateway(gateway);
    }
    runner.set_deadline(Some(Instant::now() + WALL_TIME_LIMIT));
    let limit = runner.now() + SESSION_TIME_LIMIT;
    let root = runner
        .spawn(document, Vec::new())
        .map_err(|e| e.to_string())?;

    let end = match check {
        Check::HaltsAtOnce => {
            return match runner.outcome(root) {
                Some(Outcome::Done { .. }) if !runner.is_running(root) => Ok(()),
                other => Err(format!(
                    "still running after the initial macrostep: {other:?}"
                )),
            };
        }
        Check::Pass | Check::Rejected => runner.run_to_end(root, Some(limit)),
    };
    match runner.outcome(root) {
        Some(Outcome::Done { final_state }) if final_state == "pass" => Ok(()),
        outcome => Err(format!(
            "outcome {outcome:?} ({end:?}), configuration {:?}, logs {:?}",
            runner.configuration(root),
            logs.borrow()
        )),
    }
}

fn read_manifest(corpus: &Path) -> Result<Vec<Row>, String> {
    let manifest: PathBuf = corpus.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "the W3C corpus is missing: cannot read {}: {e} (expected at shared/conformance/w3c-ecma next to the repository)",
            manifest.display()
        )
    })?;
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                [id, file, conformance, needs, description, ..] => Ok(Row {
                    id: (*id).to_owned(),
                    file: (*file).to_owned(),
                    conformance: (*conformance).to_owned(),
                    needs: needs.split(',').map(str::to_owned).collect(),
                    description: (*description).to_owned(),
                }),
                _ => Err(format!(
                    "{}: line {}: expected 6 tab-separated fields",
                    manifest.display(),
                    i + 2
                )),
            }
        })
        .collect()
}

/// Per-class lines, then the closing `N passed, N failed` on its own line.
fn print_summary(results: &Results) {
    let Ok(results) = results.lock() else {
        println!("0 passed, 0 failed");
        return;
    };
    let mut classes: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let (mut passed, mut failed) = (0, 0);
    for (class, runs) in results.values() {
        let ok = runs.iter().all(|&ok| ok);
        let counts = classes.entry(class.as_str()).or_default();
        if ok {
            counts.0 += 1;
            passed += 1;
        } else {
            counts.1 += 1;
            failed += 1;
        }
    }
    println!();
    for (class, (p, f)) in &classes {
        println!("w3c {class}: {p} passed, {f} failed");
    }
    println!("{passed} passed, {failed} failed");
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
