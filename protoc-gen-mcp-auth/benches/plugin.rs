//! The plugin in-process on a large synthetic descriptor set (200 services, 2,000 RPCs, 500
//! tool messages; see `support/synthetic.rs`): `protoc_gen_mcp_auth::execute` from the encoded
//! `CodeGeneratorRequest` to the encoded response, as `main` runs it minus stdin and stdout;
//! beside it, decoding the same request with prost-types alone, the floor every plugin pays.
//!
//! Measured in CPU time of the benchmark thread (`mcp_auth_bench_support::ThreadCpuTime`).
//! `cargo bench -p protoc-gen-mcp-auth --bench plugin`; the whole-process comparison with
//! protoc-gen-prost is the `plugin_process` bench. See BENCHMARKS.md.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::Duration;

use criterion::Throughput;
use prost::Message;
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};

fn main() {
    let request = synthetic::request();
    let response = protoc_gen_mcp_auth::execute(&request).expect("a valid request");
    let response = CodeGeneratorResponse::decode(response.as_slice()).unwrap();
    assert_eq!(response.error, None, "the synthetic set is refused");
    assert_eq!(response.file.len(), synthetic::FILES);
    let generated: usize = response.file.iter().map(|f| f.content().len()).sum();
    eprintln!(
        "synthetic set: {} files, {} services, {} RPCs, {} tool messages; request {} bytes, \
         generated {} bytes",
        synthetic::FILES,
        synthetic::FILES * synthetic::SERVICES_PER_FILE,
        synthetic::FILES * synthetic::SERVICES_PER_FILE * synthetic::RPCS_PER_SERVICE,
        synthetic::FILES * synthetic::TOOLS_PER_FILE,
        request.len(),
        generated,
    );

    let mut criterion = mcp_auth_bench_support::criterion();
    let mut group = criterion.benchmark_group("plugin");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(
            (synthetic::FILES * synthetic::SERVICES_PER_FILE * synthetic::RPCS_PER_SERVICE) as u64,
        ));
    group.bench_function("execute_2000_rpcs", |b| {
        b.iter(|| protoc_gen_mcp_auth::execute(black_box(&request)).unwrap())
    });
    // The floor any plugin pays: decoding the request with prost-types (what protoc-gen-prost
    // does before generating), without building a descriptor pool.
    group.bench_function("decode_request_with_prost_types", |b| {
        b.iter(|| CodeGeneratorRequest::decode(black_box(request.as_slice())).unwrap())
    });
    group.finish();
    criterion.final_summary();
}
