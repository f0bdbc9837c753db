//! auth-api's HTTP server: configuration, wiring, and the mapping of HTTP to the domain.

mod audit;
mod bounded_body;
pub mod client_ip;
pub mod clock;
pub mod config;
mod dto;
mod error;
mod extract;
mod head;
mod headers;
pub mod metrics;
mod oauth;
pub mod openapi;
mod pages;
mod pre_routing;
mod rate_limit;
pub mod request_id;
pub mod routes;
mod secrets;
pub mod startup;
mod state;
mod strict_json;
pub mod telemetry;
