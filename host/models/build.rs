//! Generates the KServe v2 gRPC client (feature `remote`) from `proto/grpc_predict_v2.proto`,
//! compiled by `protox` (pure Rust: no `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/grpc_predict_v2.proto");
    if std::env::var_os("CARGO_FEATURE_REMOTE").is_none() {
        return Ok(());
    }
    let files = protox::compile(["proto/grpc_predict_v2.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(files)?;
    Ok(())
}
