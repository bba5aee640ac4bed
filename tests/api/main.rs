//! Integration tests: the real service over HTTP, on SQLite and PostgreSQL.

mod contract;
mod helpers;

mod access;
mod accounts;
mod aid_reports;
mod app;
mod audit;
mod auth;
mod centers;
mod cli;
mod coverage;
mod dashboard;
mod duplicates;
mod exodus;
mod flows;
mod households;
mod housing;
mod idempotency;
mod imports;
mod logs;
mod metrics;
mod operations;
mod persons;
mod referrals;
mod reports;
mod scenario;
mod stats;
mod storage;
mod supplies;
mod time;
mod tracing;
mod transport;
