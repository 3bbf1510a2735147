//! End-to-end tests: real servers on ephemeral ports, real gRPC clients, real SQLite and
//! PostgreSQL, real grpcurl and buf. One test binary keeps link time down.

mod access;
mod backbone;
mod bad_input;
mod concurrency;
mod dossier_life;
mod processes;
mod saga;
mod support;
mod tokens;
mod tools;
