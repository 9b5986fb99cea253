//! kgen-loyalty: a self-hostable server for the KGeN Loyalty Protocol V1.
//!
//! A tour of the crate, in the direction dependencies point (`http → domain →
//! storage`):
//! - [`config`]: every setting, with its flag and `KGEN_*` variable.
//! - [`state`]: `AppState`, what every handler reaches (database, settings, caches).
//! - [`app`]: `serve`, which runs the router and background tasks.
//! - [`connection`]: one connection's read and idle timeouts, the accept back-off.
//! - [`http`]: one router per API area, extractors, the error envelope, OpenAPI.
//! - [`domain`]: the rules: events and claim policies, tokens, the ledger, OTP.
//! - [`storage`]: the pools of the configured backend, migrations, named SQL.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`heap`]: gives the C heap's free pages back when the server is quiet.
//!
//! Glossary (each word means one thing everywhere):
//! - **client**: one game (tenant), authenticated by id + secret on `/s2s/*`.
//! - **gamer**: one player of one client, named by the game's `user_id`.
//! - **session**: one `POST /s2s/session`; access and refresh tokens belong to it.
//! - **account**: a ledger account: a game's issuing shard, a gamer's wallet bucket
//!   (EARNED, BONUS, BOUGHT) or a KGeN account's wallet.
//! - **transfer**: one immutable movement of KCash between two accounts.
//! - **wallet entry**: one line of a gamer's wallet history (may span transfers).
//! - **KGeN account**: the phone-linked account that gamers of many games share.

pub mod app;
pub mod config;
pub mod connection;
pub mod domain;
pub mod heap;
pub mod http;
pub mod metrics;
pub mod state;
pub mod storage;
