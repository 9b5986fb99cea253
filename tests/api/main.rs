//! The one integration-test binary: black-box HTTP tests against the real router on
//! a real socket, and CLI tests against the real binary. Each file covers one area.

mod analytics;
mod attacks;
mod claims;
mod cli;
mod console;
mod console_ui;
mod crash;
mod events;
mod group_commit;
mod hardening;
mod helpers;
mod http_basics;
mod otp;
mod otp_links;
mod otp_sends;
mod outage;
mod process;
mod sessions;
mod several_servers;
mod sms_receiver;
mod store;
mod tokens;
mod wallet;
mod wallet_cache;
mod webhook_crash;
mod webhooks;
