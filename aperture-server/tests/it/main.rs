//! The gateway's integration tests, one binary (one link on two cores, not eight): real
//! gateways on 127.0.0.1:0 in front of the mock provider on 127.0.0.1:0, the `aperture`
//! binary, and the dashboard in chromium. `common` is the shared harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod common;

mod cli;
mod dashboard;
mod dashboard_api;
mod gateway;
mod hooks;
mod identity;
mod manage;
mod quotas;
mod records;
mod seams;
mod serve;
mod tls;
mod vertex;
