//! The `fleuve` binary's library half: assembling services into a running node (`dev`,
//! `serve`), minting dev tokens, migrations and the benchmarks, so tests can start exactly
//! what the binary starts.

pub mod backbone;
pub mod bench;
pub mod bench_append;
pub mod bench_backbone;
pub mod bench_console;
pub mod bench_deploy;
pub mod bench_edge;
pub mod bench_growth;
pub mod bench_metrics;
pub mod bench_rebuild;
pub mod bench_saga;
pub mod bench_stack;
pub mod bench_telemetry;
pub mod console;
pub mod dev;
pub mod dev_edge;
pub mod docs;
pub mod edge;
pub mod health;
pub mod node;
pub mod observe;
pub mod ops_cli;
