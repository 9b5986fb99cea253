//! The adversarial suite (issue 13): each file keeps one class of attack closed —
//! money races, transport abuse (metrics labels, silent connections, request ids,
//! framing), OTP and analytics abuse, hostile input. Every test here failed
//! against the server before its fix.

mod input;
mod money;
mod otp_analytics;
mod transport;
