//! Hostile input over real HTTP: forged and replayed tokens, broken headers and bodies, wrong
//! types, injection text. Every case gets its contract answer, none a 500, and nothing this
//! suite sends as a password or secret ever reaches a log line.

#[path = "../api/helpers.rs"]
#[macro_use]
mod helpers;

mod bodies;
mod logs;
mod mail;
mod tokens;
