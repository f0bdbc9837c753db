//! HTTP tests: the real server on a random port, spoken to over real HTTP, on every storage
//! adapter (in-memory, SQLite, PostgreSQL).

#[macro_use]
mod helpers;

mod audit;
mod auth;
mod authorize;
mod clients;
mod hardening;
mod limits;
mod mail;
mod metrics;
mod mfa;
mod oauth;
mod protocol;
mod tokens;
mod users;
