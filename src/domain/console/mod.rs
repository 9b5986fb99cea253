//! The studio console (issue 11, CONTRACT Part 2 "Console"): operators and
//! roles, console sessions, the audit log, balance adjustments and the
//! dashboard's figures. HTTP lives in `http::console`.

pub mod adjustments;
pub mod audit;
pub mod auth;
pub mod gamers;
pub mod operators;
pub mod stats;
pub mod withdrawals;
