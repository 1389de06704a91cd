//! The status pages in a real headless browser (Debian's `chromium`),
//! driven over the DevTools protocol on a pipe: each page loads with no
//! console error, shows the peers, and a download started from the form
//! completes.
//!
//! Not part of `cargo test`: it needs chromium. Run it with
//!
//! ```text
//! apt-get install -y chromium
//! cargo test --release --test browser -- --ignored
//! ```
//!
//! It hands chromium its pipe as descriptors 3 and 4, so it is built on
//! Unix only.
#![cfg(unix)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A headless chromium and one page of it, over `--remote-debugging-pipe`.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console errors, exceptions and failed loads seen so far.
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are fresh descriptors owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn start() -> Browser {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir().unwrap();
        // chromium reads commands on fd 3 and writes answers on fd 4.
        let (commands_read, commands_write) = pipe();
        let (answers_read, answers_write) = pipe();
        let (cr, aw) = (commands_read.as_raw_fd(), answers_write.as_raw_fd());
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-pipe",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: dup2 is async-signal-safe; it only sets the child's fds.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(cr, 3) < 0 || libc::dup2(aw, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .expect("chromium (apt-get install -y chromium)");
        drop(commands_read);
        drop(answers_write);
        let (tx, rx) = mpsc::channel();
        let answers = std::fs::File::from(answers_read);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(answers);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        message.pop();
                        if let Ok(value) = serde_json::from_slice(&message) {
                            if tx.send(value).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to: std::fs::File::from(commands_write),
            from: rx,
            next_id: 0,
            session: String::new(),
            errors: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends a command (to the page, once attached) and waits for its
    /// answer, noting the events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let value = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
            self.note(&value);
        }
    }

    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.errors
                    .push(format!("console.error: {}", params["args"]));
            }
            Some("Runtime.exceptionThrown") => {
                self.errors
                    .push(format!("exception: {}", params["exceptionDetails"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.errors.push(format!("log: {}", params["entry"]));
            }
            _ => {}
        }
    }

    /// Takes in the events that arrived.
    fn drain(&mut self) {
        while let Ok(value) = self.from.try_recv() {
            self.note(&value);
        }
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for("the page's script to run", "document.readyState === 'complete' && document.getElementById('updated').textContent !== ''");
    }

    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    fn text(&mut self, id: &str) -> String {
        self.eval(&format!("document.getElementById('{id}').textContent"))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn wait_for(&mut self, what: &str, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.eval(condition) != json!(true) {
            if Instant::now() >= deadline {
                let shown = self.eval("document.body.innerText");
                self.drain();
                panic!(
                    "timed out waiting for {what}; the page shows {shown}; errors: {:#?}",
                    self.errors
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks an element at its centre, as a mouse would.
    fn click(&mut self, id: &str) {
        let at = self.eval(&format!(
            "(() => {{ const e = document.getElementById('{id}'); e.scrollIntoView({{ block: 'center' }}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Types `text` into the element `id`.
    fn type_into(&mut self, id: &str, text: &str) {
        self.click(id);
        self.call("Input.insertText", json!({ "text": text }));
    }

    fn assert_no_errors(&mut self) {
        self.drain();
        assert!(
            self.errors.is_empty(),
            "errors in the page: {:#?}",
            self.errors
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs chromium; run: cargo test --release --test browser -- --ignored"]
fn status_pages_show_the_peers_and_start_a_download_that_completes() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let b_dir = folder(root.path(), "b", &[(9264, 40_000), (9265, 50_000)], true);
    let b = start_peer(root.path(), rs.addr, &b_dir, "hostB", &[]);
    let a = start_peer(root.path(), rs.addr, &root.path().join("a"), "hostA", &[]);
    let mut browser = Browser::start();

    // The RS's page: both peer records.
    browser.open(&format!("http://{}/", rs.admin()));
    assert_eq!(
        browser.eval("document.title"),
        json!("p2p-di registration server")
    );
    browser.wait_for(
        "both peers in the RS's table",
        "document.getElementById('peers').textContent.includes('hostA') && \
         document.getElementById('peers').textContent.includes('hostB')",
    );
    browser.assert_no_errors();

    // A's page: ask the RS, see B, download RFC 9265 from the form.
    browser.open(&format!("http://{}/", a.admin()));
    assert_eq!(browser.eval("document.title"), json!("p2p-di peer hostA"));
    browser.click("query-peers");
    browser.wait_for(
        "B in A's peer list",
        "document.getElementById('peers').textContent.includes('hostB')",
    );
    browser.type_into("rfc", "9265");
    browser.click("download");
    browser.wait_for(
        "the download to complete",
        "document.getElementById('downloads').textContent.includes('downloaded')",
    );
    let row = browser.text("downloads");
    assert!(row.contains("9265") && row.contains("hostB"), "{row}");
    assert_eq!(
        std::fs::read(root.path().join("a/rfc9265.txt")).unwrap(),
        document(9265, 50_000)
    );
    // The index now shows the document held here.
    browser.wait_for(
        "RFC 9265 held here",
        "document.getElementById('index').textContent.includes('held here')",
    );
    browser.assert_no_errors();

    // B's page shows the upload it made in its counters.
    browser.open(&format!("http://{}/", b.admin()));
    browser.wait_for(
        "B's bytes served",
        "document.getElementById('status').textContent.includes('50000')",
    );
    browser.assert_no_errors();
}
