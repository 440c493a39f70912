//! The whole plugin process against protoc-gen-prost on the same `CodeGeneratorRequest` bytes
//! (the synthetic set of `support/synthetic.rs`: 200 services, 2,000 RPCs, 500 tool messages):
//! spawn, read the request from stdin, generate, write the response, exit. The two binaries run
//! alternately, ROUNDS times each, in one run; the ratio is taken per round, on wall time and on
//! the children's CPU time (`getrusage(RUSAGE_CHILDREN)`), which other load on the machine
//! disturbs less.
//!
//! `cargo bench -p protoc-gen-mcp-auth --bench plugin_process`. protoc-gen-prost is taken from
//! `$PROTOC_GEN_PROST`, else `.tools/cargo/bin/` (where `tests/setup.sh` installs it), else
//! `PATH`; without it the bench says so and stops. `MCP_AUTH_BENCH_ROUNDS` sets the number of
//! rounds (default 21). `MCP_AUTH_BENCH_SAVE_REQUEST=<path>` also writes the request there, for
//! profiling or hyperfine. Under `cargo test --benches` it runs each binary once as a smoke test.
//! See BENCHMARKS.md.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use prost_types::compiler::CodeGeneratorResponse;

/// `struct rusage` of 64-bit Linux: user and system time, then 14 counters.
#[repr(C)]
struct Rusage {
    user: [i64; 2],
    system: [i64; 2],
    counters: [i64; 14],
}

/// `RUSAGE_CHILDREN`: the children that have been waited for.
const RUSAGE_CHILDREN: i32 = -1;

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// The user and system CPU time of every child process waited for so far.
fn children_cpu_time() -> Duration {
    let mut usage = Rusage {
        user: [0; 2],
        system: [0; 2],
        counters: [0; 14],
    };
    // SAFETY: `usage` is a writable `struct rusage` of this platform's layout.
    let status = unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(status, 0, "getrusage(RUSAGE_CHILDREN) failed");
    let micros = |t: [i64; 2]| Duration::from_micros((t[0] * 1_000_000 + t[1]) as u64);
    micros(usage.user) + micros(usage.system)
}

/// One run of `plugin` on the request in `request_file`: its wall time, its CPU time (user and
/// system) and the response size.
fn run(plugin: &Path, request_file: &Path) -> (Duration, Duration, usize) {
    let stdin = std::fs::File::open(request_file).expect("the request file");
    let cpu_before = children_cpu_time();
    let start = Instant::now();
    let output = Command::new(plugin)
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", plugin.display()));
    let elapsed = start.elapsed();
    let cpu = children_cpu_time().saturating_sub(cpu_before);
    assert!(output.status.success(), "{} failed", plugin.display());
    let response = CodeGeneratorResponse::decode(output.stdout.as_slice())
        .unwrap_or_else(|e| panic!("{} wrote no CodeGeneratorResponse: {e}", plugin.display()));
    assert_eq!(
        response.error,
        None,
        "{} refused the request",
        plugin.display()
    );
    assert!(
        !response.file.is_empty(),
        "{} generated nothing",
        plugin.display()
    );
    (elapsed, cpu, output.stdout.len())
}

fn protoc_gen_prost() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROTOC_GEN_PROST") {
        return Some(PathBuf::from(path));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/cargo/bin/protoc-gen-prost");
    if tools.is_file() {
        return Some(tools);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("protoc-gen-prost"))
            .find(|path| path.is_file())
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_protoc-gen-mcp-auth"));
    let Some(prost) = protoc_gen_prost() else {
        println!(
            "plugin_process: skipped, protoc-gen-prost not found (set PROTOC_GEN_PROST, or run \
             `bash tests/setup.sh`)"
        );
        return;
    };
    let request = synthetic::request();
    let request_file =
        std::env::temp_dir().join(format!("mcp-auth-bench-request-{}.bin", std::process::id()));
    std::fs::write(&request_file, &request).expect("a writable temp dir");
    if let Some(path) = std::env::var_os("MCP_AUTH_BENCH_SAVE_REQUEST") {
        std::fs::write(&path, &request).expect("MCP_AUTH_BENCH_SAVE_REQUEST is writable");
    }

    let bench = std::env::args().any(|arg| arg == "--bench");
    let rounds: usize = match std::env::var("MCP_AUTH_BENCH_ROUNDS") {
        Ok(n) => n.parse().expect("MCP_AUTH_BENCH_ROUNDS is a number"),
        Err(_) if bench => 21,
        Err(_) => 1,
    };
    // Warm the page cache and check both outputs once.
    let (_, _, ours_bytes) = run(&ours, &request_file);
    let (_, _, prost_bytes) = run(&prost, &request_file);
    println!(
        "plugin_process: request {} bytes (200 services, 2,000 RPCs, 500 tool messages); \
         responses: protoc-gen-mcp-auth {ours_bytes} bytes, protoc-gen-prost {prost_bytes} bytes",
        request.len()
    );

    // Per round: wall and CPU milliseconds of each, and the ratios mcp-auth / prost.
    let mut wall = (Vec::new(), Vec::new(), Vec::new());
    let mut cpu = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which one goes first, so neither always runs on a warmer machine.
        let (a, b) = if round % 2 == 0 {
            let a = run(&ours, &request_file);
            (a, run(&prost, &request_file))
        } else {
            let b = run(&prost, &request_file);
            (run(&ours, &request_file), b)
        };
        for (series, ours, prost) in [(&mut wall, a.0, b.0), (&mut cpu, a.1, b.1)] {
            series.0.push(millis(ours));
            series.1.push(millis(prost));
            series
                .2
                .push(ours.as_secs_f64() / prost.as_secs_f64().max(1e-9));
        }
    }
    let _ = std::fs::remove_file(&request_file);
    if !bench {
        println!("plugin_process: smoke run ok (run with `cargo bench` to time it)");
        return;
    }
    println!("plugin_process: {rounds} interleaved rounds of each whole process");
    for (what, (ours, prost, ratios)) in [("wall time", wall), ("CPU time (user + system)", cpu)] {
        println!("  {what}");
        print_series("protoc-gen-mcp-auth", "ms", ours);
        print_series("protoc-gen-prost", "ms", prost);
        print_series("mcp-auth / prost", "x", ratios);
    }
    println!("  (a ratio below 1 means protoc-gen-mcp-auth is faster)");
}

fn print_series(name: &str, unit: &str, mut values: Vec<f64>) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "    {name:<20} median {:7.2} {unit}  (min {min:.2}, max {max:.2})",
        median(&mut values)
    );
}
