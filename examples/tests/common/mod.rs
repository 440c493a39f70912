//! Running the example's binaries from the tests: every wait is bounded, so a server that
//! never starts or never exits fails the test instead of hanging it.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a binary may take to start listening or to exit. Generous: it only bounds a
/// broken run, nothing is measured against it.
pub const BOUND: Duration = Duration::from_secs(60);

/// `mcp-server` running on a free loopback port, killed when dropped.
pub struct Running {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `mcp-server` with `args` (plus `--listen 127.0.0.1:0`) and waits for its
    /// `listening on` line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mcp-server starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        match rx.recv_timeout(BOUND) {
            Ok(addr) => Self {
                child,
                addr,
                stderr: err_rx,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log: Vec<String> = err_rx.try_iter().collect();
                panic!("mcp-server did not start:\n{}", log.join("\n"));
            }
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's stderr so far (its audit lines).
    pub fn log(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end, at most [`BOUND`], with `stdin` as its input.
pub fn run_bounded(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout.read_to_end(&mut buffer);
        buffer
    });
    let err = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer);
        buffer
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A binary of this package.
pub fn bin(name: &str) -> Command {
    let path = match name {
        "mcp-server" => env!("CARGO_BIN_EXE_mcp-server"),
        "mcp-client" => env!("CARGO_BIN_EXE_mcp-client"),
        "mcp-token" => env!("CARGO_BIN_EXE_mcp-token"),
        "quickstart" => env!("CARGO_BIN_EXE_quickstart"),
        other => panic!("no binary {other}"),
    };
    Command::new(path)
}

/// Writes `contents` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}
