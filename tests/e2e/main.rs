//! End-to-end tests: real servers on ephemeral ports, real gRPC clients, real SQLite and
//! PostgreSQL, real grpcurl and buf. One test binary keeps link time down.

mod access;
mod backbone;
mod bad_input;
mod browser;
mod clients;
mod concurrency;
mod console;
mod deploy;
mod dossier_life;
mod durable;
mod edge;
mod faults;
mod grpc_web;
mod observability;
mod processes;
mod rotation;
mod saga;
mod seals;
mod storm;
mod support;
mod tokens;
mod tools;
mod uploads;
