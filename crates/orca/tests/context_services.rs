//! A strategy reaching Context Services: seed 003's IdentifyByPhoneNumber
//! state, run by `orca run`, identifies the caller through `<session:fetch>`
//! against a running server (`server::run` on 127.0.0.1:0, the Context
//! Services API under `/cs`), on every backend of `store::testing::all()`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// A scratch folder of its own for each test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orca-cs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server; stops when dropped.
struct Server {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
}

impl Server {
    fn start(data_dir: &Path, database_url: &str) -> Server {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let config = server::Config {
            data_dir: data_dir.to_owned(),
            database_url: Some(database_url.to_owned()),
            workers: 1,
            journal: false,
            ..server::Config::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = runtime.spawn(server::run(listener, config, async {
            let _ = stopped.await;
        }));
        Server {
            runtime,
            address,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Posts JSON to `/cs{path}`; the status.
    fn post(&self, path: &str, body: Value) -> u16 {
        let url = format!("http://{}/cs{path}", self.address);
        self.runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(status < 300, "POST {path}: {status} {text}");
            status
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let result = self.runtime.block_on(done);
            if !std::thread::panicking() {
                result.unwrap().unwrap();
            }
        }
    }
}

/// Seed 003's IdentifyByPhoneNumber state (its OCR damage repaired: `_data.`
/// prefixes, underscores, quotes), in a chart of its own whose outcomes are
/// the finals `Found` and `Exit_Error`. `include_profile` is the value the
/// state's script sets (the seed's is "no").
fn seed_chart(services_url: &str, ani: &str, include_profile: &str) -> String {
    format!(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
       xmlns:session="http://www.genesyslab.com/modules/session"
       version="1.0" datamodel="ecmascript" initial="IdentifyByPhoneNumber">
  <datamodel>
    <data id="context_management_services_url" expr="'{services_url}'"/>
    <data id="ANI" expr="'{ani}'"/>
    <data id="App_IdentifyByPhoneNumber_IncludeExtension" expr="'unique'"/>
    <data id="CustomerCount"/>
    <data id="CustomerData"/>
    <data id="requestid"/>
  </datamodel>
  <!-- This is the IdentifyByPhoneNumber CS API request. -->
  <state id="IdentifyByPhoneNumber">
    <onentry>
      <if cond="_data.context_management_services_url == undefined || _data.context_management_services_url == ''">
        <raise event="servererror">
          <param name="description" expr="'context_management_services_url property not configured'"/>
        </raise>
      <else/>
        <script>
          _data.CustomerCount = 0;
          var includeProfile = "no";
          var includeExtension = "unique";
          includeProfile="{include_profile}";
          includeExtension="unique";
        </script>
        <session:fetch requestid="_data.requestid"
                       srcexpr="_data.context_management_services_url + '/profiles'"
                       method="'get'" type="'application/json'">
          <param name="include_profile" expr="includeProfile"/>
          <param name="include_extensions" expr="includeExtension"/>
          <param name="PhoneNumber" expr="ANI"/>
        </session:fetch>
      </if>
    </onentry>
    <transition event="error.session.fetch" target="Exit_Error">
      <log expr="'Error ' + _event.data.error + ':' + _event.data.description"/>
    </transition>
    <transition event="session.fetch.done" cond="_event.data.content == ''" target="Exit_Error">
      <assign location="CustomerCount" expr="0"/>
      <log expr="'Error No customer found'"/>
    </transition>
    <transition event="session.fetch.done" target="Found">
      <log label="content" expr="_event.data.content"/>
      <script>
        _data.CustomerData = _event.data.content != '' ? eval('(' + _event.data.content + ')') : new Array();
        if (_data.CustomerData.length == 1) {{
          if (App_IdentifyByPhoneNumber_IncludeExtension == "unique") {{
            _data.CustomerData = [{{'customer_id' : _data.CustomerData[0].customer_id}}];
          }}
        }}
      </script>
      <log expr="'IdentifyByPhoneNumber: ' + CustomerData.length + ' Customer record(s) found'"/>
    </transition>
  </state>
  <final id="Found">
    <onentry><log label="customer" expr="CustomerData[0].customer_id"/></onentry>
  </final>
  <final id="Exit_Error"/>
</scxml>"#
    )
}

/// Runs `orca run` on `chart`; its output lines.
fn run(chart: &Path) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["run", chart.to_str().unwrap(), "--timeout", "20"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() || stdout.contains("\"final\""),
        "orca run failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn logs(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "log")
        .map(|l| &l["value"])
        .collect()
}

fn log<'a>(lines: &'a [Value], label: &str) -> &'a Value {
    let line = lines
        .iter()
        .find(|l| l["type"] == "log" && l["label"] == label)
        .unwrap_or_else(|| panic!("no log {label:?} in {lines:#?}"));
    &line["value"]
}

#[test]
fn seed_003_identifies_the_caller_through_a_running_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let backends = runtime.block_on(store::testing::all()).unwrap();
    for (n, test) in backends.into_iter().enumerate() {
        let dir = folder(&format!("identify-{n}"));
        let server = Server::start(&dir, &test.url);
        server.post(
            "/metadata/identification-keys",
            json!({"name": "idPhone", "attributes": ["PhoneNumber"]}),
        );
        server.post(
            "/profiles",
            json!({"customer_id": "cust-0007", "FirstName": "Ngozi", "LastName": "Okafor", "PhoneNumber": "5551234"}),
        );
        let base = format!("http://{}/cs", server.address);

        // The seed's own request: include_profile=no.
        let chart = dir.join("identify.scxml");
        std::fs::write(&chart, seed_chart(&base, "5551234", "no")).unwrap();
        let lines = run(&chart);
        assert_eq!(lines.last().unwrap()["final"], "Found", "{lines:#?}");
        assert_eq!(log(&lines, "customer"), &json!("cust-0007"));
        assert!(
            logs(&lines).contains(&&json!("IdentifyByPhoneNumber: 1 Customer record(s) found")),
            "{lines:#?}"
        );
        let content: Value =
            serde_json::from_str(log(&lines, "content").as_str().unwrap()).unwrap();
        assert_eq!(content, json!([{"customer_id": "cust-0007"}]));

        // With the profile's data.
        std::fs::write(&chart, seed_chart(&base, "5551234", "yes")).unwrap();
        let lines = run(&chart);
        assert_eq!(lines.last().unwrap()["final"], "Found", "{lines:#?}");
        let content: Value =
            serde_json::from_str(log(&lines, "content").as_str().unwrap()).unwrap();
        assert_eq!(content[0]["LastName"], "Okafor");
        assert_eq!(content[0]["FirstName"], "Ngozi");

        // An unknown caller: the seed's "No customer found" branch.
        std::fs::write(&chart, seed_chart(&base, "5550000", "no")).unwrap();
        let lines = run(&chart);
        assert_eq!(lines.last().unwrap()["final"], "Exit_Error", "{lines:#?}");
        assert!(
            logs(&lines).contains(&&json!("Error No customer found")),
            "{lines:#?}"
        );

        drop(server);
        runtime.block_on(test.cleanup());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
