//! Measures how long parsing and validating a document takes.
//!
//! `cargo run --release -p scxml --example parse_time [-- FILE [ROUNDS]]`;
//! the default file is the `transitions` benchmark chart.

use std::time::Instant;

use scxml::document::{parse, FileLoader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/bench/transitions/CHART.scxml"
        )
        .to_owned()
    });
    let rounds: u32 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(200);
    let text = std::fs::read_to_string(&path)?;
    let document = parse(&text, &path, &FileLoader)?;
    println!(
        "{path}: {} bytes, {} states, {} transitions, {} code entries",
        text.len(),
        document.states.len(),
        document.transitions.len(),
        document.code.len()
    );
    let mut best = f64::INFINITY;
    let start = Instant::now();
    for _ in 0..rounds {
        let round = Instant::now();
        let document = parse(&text, &path, &FileLoader)?;
        std::hint::black_box(&document);
        best = best.min(round.elapsed().as_secs_f64());
    }
    let mean = start.elapsed().as_secs_f64() / f64::from(rounds.max(1));
    println!(
        "parse: mean {:.1} µs, best {:.1} µs over {rounds} rounds",
        mean * 1e6,
        best * 1e6
    );
    Ok(())
}
