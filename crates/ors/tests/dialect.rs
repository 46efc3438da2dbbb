//! The ORS dialect in a session: built-ins, handlers and the seed documents.

use std::sync::Arc;

use ors::{OrsConfig, Request};
use scxml::datamodel::ecmascript::{EcmaScript, EcmaScriptOptions, JsRuntime};
use scxml::document::{parse, FileLoader};
use scxml::{Action, Data, Event, Interpreter, SessionOptions, Timestamp};

const HEAD: &str = r#"<scxml version="1.0" xmlns="http://www.w3.org/2005/07/scxml"
 xmlns:session="http://www.genesyslab.com/modules/session"
 xmlns:ws="http://www.genesyslab.com/modules/ws"
 xmlns:ixn="http://www.genesyslab.com/modules/interaction" initial="s">"#;

/// 2024-01-01T10:20:30Z, a Monday.
const NOW: u64 = 1_704_104_430_000;

fn session(body: &str, config: &OrsConfig) -> (Interpreter, Vec<Action>) {
    let text = format!("{HEAD}{body}</scxml>");
    let document = Arc::new(parse(&text, "app.scxml", &FileLoader).expect("valid"));
    let options = EcmaScriptOptions {
        prelude: Some(ors::prelude(&document, "http://apps/app.scxml", config)),
        ..EcmaScriptOptions::default()
    };
    let runtime = JsRuntime::new(&options).expect("runtime");
    let datamodel = EcmaScript::new(&runtime, Arc::clone(&document), &options).expect("context");
    let mut session_options = SessionOptions::new("S1");
    session_options.custom = Some(ors::handlers());
    let mut interpreter = Interpreter::new(document, Box::new(datamodel), session_options);
    interpreter.start(Timestamp::from_millis(NOW));
    let actions = drain(&mut interpreter);
    (interpreter, actions)
}

fn drain(interpreter: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| interpreter.poll_action()).collect()
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { value, .. } => Some(match value {
                Data::String(s) => s.clone(),
                other => other.to_json().to_string(),
            }),
            _ => None,
        })
        .collect()
}

fn requests(actions: Vec<Action>) -> Vec<Request> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Extension(e) => e.request.downcast::<Request>().ok().map(|r| *r),
            _ => None,
        })
        .collect()
}

#[test]
fn built_ins() {
    let mut config = OrsConfig {
        tenant: Some("Environment".into()),
        server_url: Some("http://127.0.0.1:7210".into()),
        ..OrsConfig::default()
    };
    config.lists.insert(
        "Hours".into(),
        serde_json::json!({"Sales": {"open": "08:00", "close": "18:00"}}),
    );
    config.zones.insert("Europe/Paris".into(), 60);
    let (_, actions) = session(
        r#"<datamodel><data id="a" expr="1"/><data id="b" expr="'x'"/></datamodel>
        <state id="s"><onentry>
          <log expr="uneval({n: 1, s: 'q', l: [true, null], 'a-b': undefined})"/>
          <log expr="({k: 2}).toSource()"/>
          <log expr="_data.a + _data.b"/>
          <script>_data.a = 5;</script>
          <log expr="a"/>
          <log expr="__GetDocumentURL()"/>
          <log expr="_genesys.session.tenant + ' ' + _genesys.session.server.url"/>
          <log expr="_genesys.session.dayInZone('UTC') == _genesys.session.day.Monday"/>
          <log expr="_genesys.session.timeInZone('Europe/Paris') + ' ' + _genesys.session.dateInZone('-11:00')"/>
          <log expr="_genesys.session.getListItemValue('Hours', 'Sales', 'close')"/>
          <log expr="uneval(__GetCurrentStates())"/>
          <script>__Log('from script', 'L', 4); __Raise('custom.ev', {x: 1});</script>
        </onentry><transition event="custom.ev" target="t"><log expr="_event.data.x"/></transition></state>
        <state id="t"/>"#,
        &config,
    );
    assert_eq!(
        logs(&actions),
        [
            r#"({n:1, s:"q", l:[true, null], "a-b":undefined})"#,
            "({k:2})",
            "1x",
            "5",
            "http://apps/app.scxml",
            "Environment http://127.0.0.1:7210",
            "true",
            "11:20:30 2023-12-31",
            "18:00",
            r#"["s"]"#,
            "from script",
            "1",
        ]
    );
}

#[test]
fn send_event_and_delay_as_expressions() {
    let (mut i, _) = session(
        r#"<state id="s"><onentry><send event="'Entry.' + 'done'" delay="'200ms'"/></onentry>
        <transition event="Entry.done" target="t"/></state><state id="t"/>"#,
        &OrsConfig::default(),
    );
    let due = i.poll_timeout().expect("a delayed send");
    assert_eq!(due, Timestamp::from_millis(NOW + 200));
    i.handle_timeout(due);
    let Some(Action::Send(send)) = i.poll_action() else {
        panic!("expected the send")
    };
    assert_eq!(send.event.name, "Entry.done");
}

#[test]
fn fetch_evaluates_in_the_session_and_assigns_requestid() {
    let (mut i, actions) = session(
        r#"<datamodel><data id="requestid"/><data id="url" expr="'http://127.0.0.1:1'"/></datamodel>
        <state id="s"><onentry>
          <session:fetch requestid="_data.requestid" srcexpr="_data.url + '/profiles'"
             method="'get'" type="'application/json'" timeout="5" headers="({ContactCenterId: 'cc'})">
            <param name="PhoneNumber" expr="'555'"/>
          </session:fetch>
        </onentry>
        <transition event="session.fetch.done" cond="_event.data.requestid == _data.requestid" target="t"/></state>
        <state id="t"/>"#,
        &OrsConfig::default(),
    );
    let requests = requests(actions);
    let [Request::Fetch {
        requestid,
        url,
        method,
        accept,
        headers,
        timeout_ms,
        params,
        ..
    }] = requests.as_slice()
    else {
        panic!("{requests:?}")
    };
    assert_eq!(url, "http://127.0.0.1:1/profiles");
    assert_eq!(method, "GET");
    assert_eq!(accept.as_deref(), Some("application/json"));
    assert_eq!(headers, &[("ContactCenterId".to_owned(), "cc".to_owned())]);
    assert_eq!(*timeout_ms, Some(5000));
    assert_eq!(params, &[("PhoneNumber".to_owned(), Data::from("555"))]);
    i.handle_event(
        Timestamp::from_millis(NOW),
        ors::events::fetch_done(requestid, 200, "[]".into(), Vec::new()),
    );
    assert_eq!(i.configuration(), ["t"]);
}

#[test]
fn unsupported_module_actions_raise_an_error_event() {
    let (i, _) = session(
        r#"<datamodel><data id="reqid"/></datamodel><state id="s"><onentry>
          <ixn:attach requestid="_data.reqid" interactionid="'x'"/>
        </onentry><transition event="error.unsupported.element" target="t"/></state><state id="t"/>"#,
        &OrsConfig::default(),
    );
    assert_eq!(i.configuration(), ["t"]);
}

#[test]
fn session_start_and_ws_response() {
    let (i, actions) = session(
        r#"<datamodel><data id="newsessionid"/></datamodel><state id="s"><onentry>
          <session:start src="'child.scxml'" sessionid="_data.newsessionid">
            <param name="parent_sessionid" expr="_sessionid"/>
          </session:start>
          <ws:response requestid="'r1'" resultcode="'ok'"><param name="a" expr="1"/></ws:response>
          <log expr="newsessionid"/>
        </onentry></state>"#,
        &OrsConfig::default(),
    );
    let _ = i;
    let log = logs(&actions);
    let requests = requests(actions);
    let Request::Start {
        session_id,
        src,
        params,
        ..
    } = &requests[0]
    else {
        panic!("{requests:?}")
    };
    assert_eq!(src, "child.scxml");
    assert_eq!(log.as_slice(), std::slice::from_ref(session_id));
    assert_eq!(params, &[("parent_sessionid".to_owned(), Data::from("S1"))]);
    assert!(
        matches!(&requests[1], Request::Response { requestid, kind, .. } if requestid == "r1" && kind == "positive")
    );
}

#[test]
fn seed_000_parent_reaches_its_first_interaction_action() {
    let (mut i, _) = session(
        r#"<datamodel><data id="reqid" expr=""/><data id="ixnid" expr=""/></datamodel>
        <state id="s"><transition event="interaction.added" target="detachcall">
          <script>_data.ixnid = _event.data.interactionid;</script></transition></state>
        <state id="detachcall"><onentry>
          <log expr="'Detach call from current session ...'"/>
          <ixn:detach requestid="_data.reqid" interactionid="_data.ixnid"/>
        </onentry>
        <transition event="error.unsupported.element" target="error"><log expr="uneval(_event.data.element)"/></transition>
        </state><final id="error"/>"#,
        &OrsConfig::default(),
    );
    let _ = Event::default();
    i.handle_event(
        Timestamp::from_millis(NOW),
        Event::external(
            "interaction.added",
            Data::Object(vec![("interactionid".into(), "I1".into())]),
        ),
    );
    let actions = drain(&mut i);
    assert_eq!(
        logs(&actions),
        ["Detach call from current session ...", "\"detach\""]
    );
    assert!(!i.is_running());
}
