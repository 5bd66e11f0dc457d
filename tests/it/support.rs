//! A small builder for running the real `audit` binary against a temporary database, for
//! starting the real stand-in endpoint as a child process, and for a hostile server on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::sync::{Arc, Mutex};

use assert_cmd::cargo::CommandCargoExt;
use tcss_audit::task::clock::SystemClock;
use tcss_audit::tencent::{Client, ClientOptions, Credentials, Endpoint, Secret};

pub use crate::common::{SEED, seed_with_request_id};
pub const SIM_ID: &str = "AKIDsimEXAMPLEexampleEXAMPLE000001";
pub const SIM_KEY: &str = "SimSecretKeyThatMustNeverBePrinted01";

/// A temporary folder with a database path and helpers to run `audit` in it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub now: Option<String>,
}

/// What one run produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            now: None,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("audit.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The binary with a clean environment: no credentials, colour or config leak in from outside.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("audit").unwrap();
        for var in [
            "TENCENTCLOUD_SECRET_ID",
            "TENCENTCLOUD_SECRET_KEY",
            "TENCENTCLOUD_TOKEN",
            "TCSS_AUDIT_CONFIG",
            "TCSS_AUDIT_NOW",
            "TCSS_AUDIT_LOG",
            "NO_COLOR",
        ] {
            c.env_remove(var);
        }
        c.env("TCSS_AUDIT_DB", self.db());
        c.env("HOME", self.dir.path());
        c.env("XDG_DATA_HOME", self.dir.path().join("data"));
        if let Some(now) = &self.now {
            c.env("TCSS_AUDIT_NOW", now);
        }
        c.current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, |_| {})
    }

    pub fn run_with(&self, args: &[&str], f: impl FnOnce(&mut Command)) -> Run {
        let mut c = self.cmd();
        c.args(args);
        f(&mut c);
        let out = c.stdin(Stdio::null()).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stdout_bytes: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs with the stand-in's credentials in the environment.
    pub fn run_signed(&self, args: &[&str]) -> Run {
        self.run_with(args, |c| {
            c.env("TENCENTCLOUD_SECRET_ID", SIM_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SIM_KEY);
        })
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, want: i32) -> Run {
        assert_eq!(
            self.code, want,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// The real `audit sim` as a child process on an ephemeral loopback port.
pub struct Sim {
    pub child: Child,
    pub url: String,
}

impl Sim {
    pub fn start(extra: &[&str]) -> Sim {
        Self::start_in(None, extra)
    }

    pub fn start_in(state: Option<&Path>, extra: &[&str]) -> Sim {
        Self::spawn(state, extra, None)
    }

    /// With `-v`, its log of every request (never a key) written to `log`.
    pub fn start_logged(extra: &[&str], log: &Path) -> Sim {
        Self::spawn(None, extra, Some(log))
    }

    fn spawn(state: Option<&Path>, extra: &[&str], log: Option<&Path>) -> Sim {
        let mut c = Command::cargo_bin("audit").unwrap();
        if log.is_some() {
            c.arg("-v").env("NO_COLOR", "1");
        }
        c.args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--secret-id",
            SIM_ID,
            "--secret-key",
            SIM_KEY,
        ]);
        if let Some(s) = state {
            c.arg("--state").arg(s);
        }
        c.args(extra);
        c.env_remove("TCSS_AUDIT_NOW");
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(stderr)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
            "sim printed {url:?}"
        );
        Sim { child, url }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows in a table of a database; 0 while the file does not exist.
pub fn rows(db: &Path, table: &str) -> i64 {
    if !db.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

impl Env {
    /// Rows in a table of this environment's database.
    pub fn rows(&self, table: &str) -> i64 {
        rows(&self.db(), table)
    }
}

/// A client signed with the stand-in's credential, as an operator's tool would be.
pub fn sim_client(url: &str, options: ClientOptions) -> Client {
    Client::new(
        Endpoint::parse(url).unwrap(),
        Credentials {
            secret_id: SIM_ID.into(),
            secret_key: Secret::new(SIM_KEY),
            token: None,
            origin: "test".into(),
        },
        Arc::new(SystemClock),
        options,
    )
    .unwrap()
}

/// Every file under `dir`, for tests that look for a secret in everything a run left behind.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn holds(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Sends a signed Update to the stand-in, as an operator would from the console.
pub fn update(url: &str, params: serde_json::Value) {
    let client = sim_client(url, ClientOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(client.update(&params)).unwrap();
}

/// One request a [`Hostile`] server received.
#[derive(Debug, Clone)]
pub struct Heard {
    pub path: String,
    /// The `X-TC-Action` header, empty without one (the metadata service's GETs).
    pub action: String,
    pub body: String,
}

/// What a [`Hostile`] server answers: the status and the body of the answer to a request.
type Answerer = dyn Fn(&Heard) -> (u16, String) + Send + Sync;

/// A small HTTP/1.1 server on loopback that answers every request as `answer` says (one request a
/// connection) and remembers each: what a hostile STS, organization or metadata service can
/// make the tool do, without the stand-in.
pub struct Hostile {
    pub url: String,
    heard: Arc<Mutex<Vec<Heard>>>,
}

impl Hostile {
    pub fn start(answer: impl Fn(&Heard) -> (u16, String) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = heard.clone();
        let answer: Arc<Answerer> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&stream) {
                        log.lock().unwrap().push(request.clone());
                        let (status, body) = answer(&request);
                        let _ = respond(stream, status, &body);
                    }
                });
            }
        });
        Hostile { url, heard }
    }

    /// Every request received so far.
    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }

    /// How many requests named `action`.
    pub fn count(&self, action: &str) -> usize {
        self.heard().iter().filter(|h| h.action == action).count()
    }
}

fn read_request(stream: &TcpStream) -> Option<Heard> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let path = first.split_whitespace().nth(1)?.to_string();
    let (mut action, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "x-tc-action" => action = value.trim().to_string(),
            "content-length" => length = value.trim().parse().ok()?,
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Heard {
        path,
        action,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(mut stream: TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Clears the immutable flag again however the test ends, so the folder can be removed.
pub struct Immutable<'a>(pub &'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}
