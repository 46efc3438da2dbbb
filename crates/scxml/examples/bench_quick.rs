// scratch
use std::io::BufRead;
use std::sync::Arc;
use scxml::datamodel::ecmascript::{EcmaScript, EcmaScriptOptions, JsRuntime};
use scxml::document::{parse, FileLoader};
use scxml::{Action, Data, Event, Interpreter, SessionOptions, Timestamp};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let doc = Arc::new(parse(&text, &args[1], &FileLoader).unwrap());
    let options = EcmaScriptOptions::default();
    let rt = JsRuntime::new(&options).unwrap();
    let dm = EcmaScript::new(&rt, doc.clone(), &options).unwrap();
    let mut it = Interpreter::new(doc, Box::new(dm), SessionOptions::new("s1"));
    let t0 = std::time::Instant::now();
    it.start(Timestamp(0));
    let f = std::io::BufReader::new(std::fs::File::open(&args[2]).unwrap());
    let mut n = 0u64;
    for line in f.lines() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let name = v["name"].as_str().unwrap().to_owned();
        let data = v.get("data").cloned().map(Data::from).unwrap_or(Data::Undefined);
        it.handle_event(Timestamp(0), Event::external(name, data));
        n += 1;
        while let Some(a) = it.poll_action() { if let Action::Log{label, value, ..} = a { println!("{label:?} {value}"); } }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("{n} events in {dt:.3}s = {:.0}/s; {:?} {:?}", n as f64 / dt, it.outcome(), it.configuration());
}
