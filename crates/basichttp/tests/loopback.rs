//! The receiver and the sender together on a loopback port: a POST made by
//! the sender is decoded, handed to the host and answered 2xx; failures
//! come back as errors. No sleeps: every wait is on a channel.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;

use basichttp::{encode, Processor, SendError, Unknown};
use scxml::{Data, Event, SendRequest, BASIC_HTTP_EVENT_PROCESSOR};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A processor that knows one session, `s1`, and passes its events on.
fn start() -> (Processor, mpsc::Receiver<Event>) {
    let (events, received) = mpsc::channel();
    let deliver = move |session: &str, event: Event| {
        if session != "s1" {
            return Err(Unknown);
        }
        events.send(event).map_err(|_| Unknown)
    };
    match Processor::start(loopback(), Arc::new(deliver)) {
        Ok(processor) => (processor, received),
        Err(e) => panic!("cannot start: {e}"),
    }
}

/// Sends `request` and waits for the result.
fn send(processor: &Processor, request: &SendRequest) -> Result<(), String> {
    let post =
        encode(request, Some("http://127.0.0.1:1/basichttp/me")).map_err(|e| e.to_string())?;
    let (done, result) = mpsc::channel();
    processor.post(post, move |r: Result<(), SendError>| {
        let _ = done.send(r.map_err(|e| e.to_string()));
    });
    result.recv().map_err(|e| e.to_string())?
}

fn request(target: String, name: &str, data: Data) -> SendRequest {
    SendRequest {
        target: Some(target),
        kind: BASIC_HTTP_EVENT_PROCESSOR.to_owned(),
        event: Event::external(name, data),
    }
}

#[test]
fn a_post_is_delivered_before_it_is_answered() {
    let (processor, received) = start();
    let location = processor.location("s1");
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    assert!(location.ends_with("/basichttp/s1"), "{location}");
    let data = Data::Object(vec![("param1".to_owned(), Data::Number(2.0))]);
    assert_eq!(send(&processor, &request(location, "test", data)), Ok(()));
    // Handed over before the 200 went out, so already there.
    let event = received.try_recv().expect("the event was delivered");
    assert_eq!(event.name, "test");
    assert_eq!(
        event.data,
        Data::Object(vec![("param1".into(), "2".into())])
    );
    assert_eq!(
        event.origin.as_deref(),
        Some("http://127.0.0.1:1/basichttp/me")
    );
    assert_eq!(
        event.origintype.as_deref(),
        Some(BASIC_HTTP_EVENT_PROCESSOR)
    );
    let raw = event.raw.unwrap_or_default();
    assert!(raw.starts_with("POST /basichttp/s1 HTTP/1.1\r\n"), "{raw}");
    assert!(raw.ends_with("_scxmleventname=test&param1=2"), "{raw}");
}

#[test]
fn content_without_a_name_arrives_as_http_post() {
    let (processor, received) = start();
    let location = processor.location("s1");
    let data = Data::from("some content");
    assert_eq!(send(&processor, &request(location, "", data)), Ok(()));
    let event = received.try_recv().expect("the event was delivered");
    assert_eq!(event.name, "HTTP.POST");
    assert_eq!(event.data, Data::from("some content"));
}

#[test]
fn an_unknown_session_or_a_closed_port_is_an_error() {
    let (processor, received) = start();
    let result = send(
        &processor,
        &request(processor.location("s2"), "x", Data::Undefined),
    );
    assert!(
        result.as_ref().is_err_and(|e| e.contains("404")),
        "{result:?}"
    );

    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind(loopback())
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let target = format!("http://127.0.0.1:{port}/basichttp/s1");
    let result = send(&processor, &request(target, "x", Data::Undefined));
    assert!(result.is_err(), "{result:?}");
    assert!(received.try_recv().is_err());
}
