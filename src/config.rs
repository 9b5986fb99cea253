//! Settings of a running server: one documented field per flag and environment
//! variable named in CONTRACT.md Part 2. Only `main` reads the environment (through
//! clap); everything else receives a `Config`.

use std::net::SocketAddr;
use std::time::Duration;

/// The embedded default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://kgen-loyalty.db?mode=rwc";

/// How one-time passwords are delivered to phones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsMode {
    /// Write phone and OTP to the server log (local runs only).
    Log,
    /// POST the OTP to `KGEN_SMS_WEBHOOK_URL`.
    Webhook,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The bearer token that guards `/metrics`: never shown by `Debug`, so that a
/// logged `Config` does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// The token as configured.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl std::str::FromStr for MetricsToken {
    type Err = String;

    fn from_str(token: &str) -> Result<MetricsToken, String> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a metrics token is one or more visible ASCII characters".to_owned());
        }
        Ok(MetricsToken(token.to_owned()))
    }
}

/// Everything `kgen-loyalty serve` can be told. Each field has a flag and a `KGEN_*`
/// environment variable; `serve --help` lists them with their defaults.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "KGEN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Most database connections the server keeps open.
    #[arg(long, env = "KGEN_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before answering 503.
    #[arg(long, env = "KGEN_DB_TIMEOUT_SECONDS", default_value_t = 5)]
    pub db_timeout_seconds: u64,

    /// Lifetime of an access token (JWT), in seconds.
    #[arg(long, env = "KGEN_JWT_TTL_SECONDS", default_value_t = 86_400)]
    pub jwt_ttl_seconds: u64,

    /// Lifetime of a refresh token, in seconds.
    #[arg(long, env = "KGEN_REFRESH_TTL_SECONDS", default_value_t = 2_592_000)]
    pub refresh_ttl_seconds: u64,

    /// How long an OTP stays valid, in seconds.
    #[arg(long, env = "KGEN_OTP_TTL_SECONDS", default_value_t = 300)]
    pub otp_ttl_seconds: u64,

    /// Wrong OTP answers before a request dies.
    #[arg(long, env = "KGEN_OTP_MAX_ATTEMPTS", default_value_t = 5)]
    pub otp_attempts_max: u32,

    /// Seconds between two OTP sends to the same phone.
    #[arg(long, env = "KGEN_OTP_RESEND_COOLDOWN_SECONDS", default_value_t = 30)]
    pub otp_resend_cooldown_seconds: u64,

    /// OTP sends allowed per phone per hour.
    #[arg(long, env = "KGEN_OTP_MAX_SENDS_PER_HOUR", default_value_t = 5)]
    pub otp_sends_per_hour_max: u32,

    /// OTP sends one gamer may ask for per hour, across all phones.
    #[arg(
        long,
        env = "KGEN_OTP_MAX_SENDS_PER_GAMER_PER_HOUR",
        default_value_t = 10
    )]
    pub otp_sends_per_gamer_per_hour_max: u32,

    // Abuse bounds: OTP sends per client (SMS pumping), the analytics drop quota and
    // retention (database growth).
    /// OTP sends the gamers of one game client may cause per hour, in all
    /// (successful sends over a rolling 60 minutes; 0 allows none).
    #[arg(
        long,
        env = "KGEN_OTP_MAX_SENDS_PER_CLIENT_PER_HOUR",
        default_value_t = 1000
    )]
    pub otp_sends_per_client_per_hour_max: u32,

    /// Analytics drops one gamer may store per UTC day (0 allows none).
    #[arg(
        long,
        env = "KGEN_ANALYTICS_DROPS_PER_GAMER_PER_DAY",
        default_value_t = 1000
    )]
    pub analytics_drops_per_gamer_per_day: u32,

    /// Days an analytics drop is kept; older drops are deleted in the background.
    #[arg(long, env = "KGEN_ANALYTICS_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub analytics_retention_days: u32,

    /// OTP delivery: `log` writes the OTP to the server log, `webhook` POSTs it.
    #[arg(long, env = "KGEN_SMS", value_enum, default_value = "log")]
    pub sms: SmsMode,

    /// URL that receives OTPs when `KGEN_SMS=webhook`.
    #[arg(long, env = "KGEN_SMS_WEBHOOK_URL")]
    pub sms_webhook_url: Option<String>,

    /// Seconds to wait for the SMS webhook before answering 502.
    #[arg(long, env = "KGEN_SMS_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 5)]
    pub sms_webhook_timeout_seconds: u64,

    /// Base URL of the K-Store; the redirect adds a `sessionToken` parameter.
    #[arg(
        long,
        env = "KGEN_STORE_URL",
        default_value = "https://kstore.kgen.io/"
    )]
    pub store_url: String,

    /// BIP-32 extended public key (xpub) that wallet addresses derive from.
    /// Unset: one is generated on first start and stored in the database.
    #[arg(long, env = "KGEN_WALLET_XPUB")]
    pub wallet_xpub: Option<String>,

    /// Milliseconds between two passes of the settlement worker.
    #[arg(long, env = "KGEN_SETTLEMENT_INTERVAL_MS", default_value_t = 500)]
    pub settlement_interval_ms: u64,

    /// Seconds that in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "KGEN_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,

    /// Seconds a server keeps a session's authentication in memory: a revoked
    /// session or a disabled client is refused by other servers within this time
    /// (at once on the server that revoked it). 0 turns the cache off.
    #[arg(long, env = "KGEN_AUTH_CACHE_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub auth_cache_seconds: u64,

    /// Megabytes of wallet reads (balances, first history pages) kept in memory;
    /// 0 turns the cache off. A cached read is dropped as soon as its wallet
    /// changes (on PostgreSQL, when another server announces the change).
    #[arg(long, env = "KGEN_WALLET_CACHE_MB", default_value_t = 32)]
    pub wallet_cache_mb: u64,

    /// Seconds a new connection may take to send its first complete request head
    /// (any protocol), and a request its body.
    #[arg(long, env = "KGEN_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    pub read_timeout_seconds: u64,

    /// Seconds an HTTP/1.1 keep-alive or HTTP/2 connection may stay idle (no
    /// request in flight) after its first request before it is closed.
    #[arg(long, env = "KGEN_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u64,

    /// Bearer token that `GET /metrics` requires; unset, `/metrics` is open.
    #[arg(long, env = "KGEN_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<MetricsToken>,

    /// Seconds a request may take in all before it is answered 503.
    #[arg(long, env = "KGEN_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,

    /// Requests per second each client may make on `/s2s/*` (0: no limit).
    #[arg(
        long,
        env = "KGEN_RATE_LIMIT_CLIENT_PER_SECOND",
        default_value_t = 2000
    )]
    pub rate_limit_client_per_second: u32,

    /// Burst above the per-client rate.
    #[arg(long, env = "KGEN_RATE_LIMIT_CLIENT_BURST", default_value_t = 4000)]
    pub rate_limit_client_burst: u32,

    /// Requests per second each gamer may make on `/fe/*` (0: no limit).
    #[arg(long, env = "KGEN_RATE_LIMIT_GAMER_PER_SECOND", default_value_t = 50)]
    pub rate_limit_gamer_per_second: u32,

    /// Burst above the per-gamer rate.
    #[arg(long, env = "KGEN_RATE_LIMIT_GAMER_BURST", default_value_t = 200)]
    pub rate_limit_gamer_burst: u32,

    /// Browser origins allowed to call `/fe/*` (comma-separated; `*` for any).
    #[arg(long, env = "KGEN_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Minutes a console session lives without use.
    #[arg(long, env = "KGEN_CONSOLE_IDLE_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub console_idle_minutes: u64,

    /// Whether the console cookie carries `Secure` (set it behind HTTPS).
    #[arg(long, env = "KGEN_CONSOLE_SECURE_COOKIE", default_value_t = false, action = clap::ArgAction::Set)]
    pub console_secure_cookie: bool,

    /// Seconds the dashboard rollups stay behind the clock: longer than any
    /// write transaction, so that every row they add has committed. Rows younger
    /// than this are counted live.
    #[arg(long, env = "KGEN_CONSOLE_STATS_LAG_SECONDS", default_value_t = 120)]
    pub console_stats_lag_seconds: u64,

    /// Seconds between two catch-ups of the dashboard rollups by the background
    /// task (0: none; the dashboard then counts everything after the watermark live).
    #[arg(long, env = "KGEN_CONSOLE_STATS_INTERVAL_SECONDS", default_value_t = 5)]
    pub console_stats_interval_seconds: u64,

    /// Accept `http://` webhook URLs too (otherwise `https://` only).
    #[arg(long, env = "KGEN_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,

    /// Accept webhook URLs whose host is or resolves to a loopback, private,
    /// link-local or reserved address (local testing only).
    #[arg(long, env = "KGEN_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// Seconds a webhook attempt may take before it counts as failed.
    #[arg(long, env = "KGEN_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_timeout_seconds: u64,

    /// Seconds between webhook attempts after a failure, comma-separated (±10 %
    /// jitter); 1 + its length attempts in all. Default 5,300,1800,7200,18000,36000,36000.
    #[arg(
        long,
        env = "KGEN_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: String,

    /// An endpoint with no 2xx since a first failure this many hours ago is disabled.
    #[arg(long, env = "KGEN_WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 120)]
    pub webhook_disable_after_hours: u64,

    /// Log format.
    #[arg(long, env = "KGEN_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// The defaults of every setting, as `serve` with no flags and no environment.
    pub fn defaults() -> Config {
        use clap::{Args, FromArgMatches};
        // An empty command line: clap fills in each default_value, and no env is read
        // because the arguments are rebuilt without their `env` bindings.
        let command = Config::augment_args(clap::Command::new("defaults"));
        let command = command.mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["defaults"]);
        Config::from_arg_matches(&matches).expect("every setting has a default")
    }

    /// Access-token lifetime.
    pub fn jwt_ttl(&self) -> Duration {
        Duration::from_secs(self.jwt_ttl_seconds)
    }

    /// Database connection timeout.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::defaults();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.jwt_ttl_seconds, 86_400);
        assert_eq!(config.otp_ttl_seconds, 300);
        assert_eq!(config.otp_attempts_max, 5);
        assert_eq!(config.otp_resend_cooldown_seconds, 30);
        assert_eq!(config.otp_sends_per_hour_max, 5);
        assert_eq!(config.sms, SmsMode::Log);
        assert_eq!(config.otp_sends_per_client_per_hour_max, 1000);
        assert_eq!(config.analytics_drops_per_gamer_per_day, 1000);
        assert_eq!(config.analytics_retention_days, 90);
        assert_eq!(config.idle_timeout_seconds, 60);
        assert_eq!(config.metrics_token, None);
    }
}

#[cfg(test)]
mod metrics_token_tests {
    use super::MetricsToken;

    #[test]
    fn a_metrics_token_is_visible_ascii_and_never_debug_printed() {
        let token: MetricsToken = "s3cret-Token".parse().unwrap();

        assert_eq!(token.expose(), "s3cret-Token");
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!("".parse::<MetricsToken>().is_err());
        assert!("two words".parse::<MetricsToken>().is_err());
    }
}
