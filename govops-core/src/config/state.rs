//! Where the shared guard state lives (contract section 8): `GOVOPS_STATE_URL`, the URL of a
//! Redis-protocol server, and `GOVOPS_STATE_TIMEOUT_MS`, the longest a call waits for it.
//!
//! The URL's password is a secret: [`StateUrl`] prints the URL with it masked, and no message
//! about a malformed URL repeats any part of the value that could hold it.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::Config;
use super::otlp::Secret;
use super::rules::{Rule, invalid, shown};
use crate::contract::vars;

pub(crate) const URL_ACCEPTED: &str = "a redis:// or rediss:// (TLS) URL of a Redis-protocol server: \
     [user][:password]@host[:port][/database], e.g. redis://127.0.0.1:6379/0";
pub(crate) const TIMEOUT_ACCEPTED: &str =
    "a whole number of milliseconds from 1 to 60000 (default 50)";

/// The port of a Redis server when the URL names none.
pub const DEFAULT_STATE_PORT: u16 = 6379;

/// How long a call waits for the shared state when `GOVOPS_STATE_TIMEOUT_MS` is not set.
pub const DEFAULT_STATE_TIMEOUT: Duration = Duration::from_millis(50);

/// The longest `GOVOPS_STATE_TIMEOUT_MS` accepted: past a minute a hung server would hold calls
/// longer than any client waits for them.
pub const MAX_STATE_TIMEOUT: Duration = Duration::from_secs(60);

/// The shortest wait of the start-up probe: a server across a network may need longer than one
/// call's timeout to accept a first connection, and start-up can afford it.
pub const MIN_STATE_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The URL of the Redis-protocol server (Redis, Valkey) that holds the shared guard state
/// (`GOVOPS_STATE_URL`), checked: scheme `redis` or `rediss`, a host, an optional port and an
/// optional database number, nothing else.
///
/// `Display` and `Debug` mask the password (`redis://:***@cache:6379/0`), and a user name given
/// without one (often a misplaced password: `redis://***@cache:6379/0`); only
/// [`StateUrl::expose_url`] and [`StateUrl::expose_password`] give it, for the client that
/// connects.
///
/// ```
/// use govops_core::config::StateUrl;
///
/// let url: StateUrl = "rediss://:hunter2@cache.internal:6380/2".parse().unwrap();
/// assert_eq!(url.to_string(), "rediss://:***@cache.internal:6380/2");
/// assert!(url.tls());
/// assert_eq!((url.host(), url.port(), url.database()), ("cache.internal", 6380, 2));
/// assert!(!format!("{url:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StateUrl {
    url: Secret,
    tls: bool,
    username: Option<String>,
    /// The user name as the URL spells it (percent-encoded), for `Display`.
    url_username: String,
    password: Option<Secret>,
    host: String,
    /// The host as a URL spells it (IPv6 addresses in brackets).
    url_host: String,
    port: u16,
    database: u32,
}

impl StateUrl {
    /// The whole URL, password included, for the client that connects; never print it.
    #[must_use]
    pub fn expose_url(&self) -> &str {
        self.url.expose()
    }

    /// The password, percent-decoded, when the URL has one; never print it.
    #[must_use]
    pub fn expose_password(&self) -> Option<&str> {
        self.password.as_ref().map(Secret::expose)
    }

    /// The user name (Redis 6 ACL), percent-decoded, when the URL has one.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The host: a name, or an IP address (an IPv6 one without brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the URL's, else [`DEFAULT_STATE_PORT`].
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the connection uses TLS (`rediss://`).
    #[must_use]
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The database number: the URL's path (`/2`), else 0.
    #[must_use]
    pub fn database(&self) -> u32 {
        self.database
    }

    /// The URL with its password masked: what messages show.
    #[must_use]
    pub fn masked(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://")?;
        match (&self.username, &self.password) {
            (Some(_), Some(_)) => write!(f, "{}:***@", self.url_username)?,
            (None, Some(_)) => f.write_str(":***@")?,
            // A lone user segment is often a password written where the user goes
            // (`redis://PASSWORD@host`): masked as well.
            (Some(_), None) => f.write_str("***@")?,
            (None, None) => {}
        }
        write!(f, "{}:{}/{}", self.url_host, self.port, self.database)
    }
}

impl fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StateUrl").field(&self.to_string()).finish()
    }
}

impl FromStr for StateUrl {
    type Err = String;

    /// Parses and checks a URL; the error says what is wrong without repeating the value.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        url_rule(value).map_err(|(_, problem)| problem)
    }
}

/// `GOVOPS_STATE_URL`. Messages never repeat the value, nor any part of it that could be a
/// password put in the wrong place (a path, a query).
pub(super) fn url_rule(value: &str) -> Rule<StateUrl> {
    let url = match url::Url::parse(value.trim()) {
        Ok(url) => url,
        Err(error) => return invalid(format!("is not a URL ({error}; value not shown)")),
    };
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => {
            return invalid(format!(
                "has the scheme {}; only redis and rediss are accepted",
                shown(other)
            ));
        }
    };
    let host = match url.host() {
        Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return invalid("has no host (value not shown)".to_owned()),
    };
    let port = match url.port() {
        Some(0) => return invalid("has the port 0".to_owned()),
        Some(port) => port,
        None => DEFAULT_STATE_PORT,
    };
    let digits = url.path().strip_prefix('/').unwrap_or(url.path());
    let database = if digits.is_empty() {
        0
    } else {
        match digits.parse::<u32>() {
            Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return invalid(
                    "has a path other than /N, N a database number (value not shown)".to_owned(),
                );
            }
        }
    };
    if url.query().is_some() || url.fragment().is_some() {
        return invalid(
            "has a query (?..) or fragment (#..), which are not accepted (value not shown)"
                .to_owned(),
        );
    }
    let Some(username) = decoded(url.username()) else {
        return invalid("has a user name that is not percent-encoded UTF-8".to_owned());
    };
    let Some(password) = decoded(url.password().unwrap_or_default()) else {
        return invalid("has a password that is not percent-encoded UTF-8 (not shown)".to_owned());
    };
    Ok(StateUrl {
        url: Secret::new(url.as_str()),
        tls,
        username: Some(username).filter(|u| !u.is_empty()),
        url_username: url.username().to_owned(),
        password: url.password().map(|_| Secret::new(password)),
        url_host: url.host_str().unwrap_or_default().to_owned(),
        host,
        port,
        database,
    })
}

/// A user or password as the URL holds it, percent-decoded; `None` when that is not UTF-8.
fn decoded(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// `GOVOPS_STATE_TIMEOUT_MS`.
pub(super) fn timeout_rule(value: &str) -> Rule<Duration> {
    let max = MAX_STATE_TIMEOUT.as_millis();
    match value.trim().parse::<u128>() {
        Ok(0) => invalid("is 0: every call would give up on the shared state at once".to_owned()),
        Ok(ms) if ms > max => invalid(format!("is {ms}; at most {max} is accepted")),
        Ok(ms) => Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(50))),
        Err(_) => invalid(format!(
            "{} is not a whole number of milliseconds",
            shown(value)
        )),
    }
}

/// Whether the server at `url` accepts a TCP connection within `timeout` (each address the host
/// resolves to is tried in turn, each for `timeout`). A connection is all it checks: the server
/// may still refuse the password or speak another protocol.
///
/// # Errors
///
/// Why it did not answer, in words that name the host and port but never the password.
pub fn probe_state(url: &StateUrl, timeout: Duration) -> Result<(), String> {
    let at = format!("{}:{}", url.url_host, url.port);
    let addresses = (url.host(), url.port())
        .to_socket_addrs()
        .map_err(|error| format!("{} cannot be resolved ({error})", url.host()))?;
    let mut last = format!("{} resolves to no address", url.host());
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("{at} did not answer within {} ms", timeout.as_millis());
            }
            Err(error) => last = format!("{at} cannot be connected to ({error})"),
        }
    }
    Err(last)
}

/// The start-up probe of the shared state at `url`: `None` when the server accepts a connection
/// within `timeout` (at least [`MIN_STATE_PROBE_TIMEOUT`]), else a one-line warning that names the
/// variable and the masked URL. Not a gap: the process starts anyway, with its own guard state
/// until the server answers.
#[must_use]
pub fn state_warning(url: &StateUrl, timeout: Duration) -> Option<String> {
    let why = probe_state(url, timeout.max(MIN_STATE_PROBE_TIMEOUT)).err()?;
    Some(format!(
        "{} {url} cannot be reached ({why}); the process starts anyway, with its own guard state \
         until the server answers",
        vars::STATE_URL
    ))
}

impl Config {
    /// [`state_warning`] for `GOVOPS_STATE_URL` and `GOVOPS_STATE_TIMEOUT_MS`; `None` as well when
    /// no URL is set. `init` prints it to stderr.
    #[must_use]
    pub fn state_warning(&self) -> Option<String> {
        state_warning(self.state_url.as_ref()?, self.state_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::vars;
    use crate::env::EnvSource;

    const PASSWORD: &str = "s3cr3t-Pa55";

    fn env(extra: &[(&'static str, String)]) -> EnvSource {
        let mut pairs = vec![
            (vars::APP_NAME, "support-bot".to_owned()),
            (vars::ENVIRONMENT, "test".to_owned()),
            (vars::OWNER, "team-ai".to_owned()),
            (vars::COST_CENTER, "CC-1234".to_owned()),
            (vars::DATA_CLASSIFICATION, "internal".to_owned()),
        ];
        pairs.extend(extra.iter().cloned());
        EnvSource::from_pairs(pairs)
    }

    #[test]
    fn good_urls_give_host_port_tls_and_database() {
        let cases = [
            (
                "redis://127.0.0.1:6379/0",
                "127.0.0.1",
                6379,
                false,
                0,
                None,
            ),
            (
                "rediss://:secret@cache.internal:6380",
                "cache.internal",
                6380,
                true,
                0,
                None,
            ),
            (
                "redis://user:pass@host",
                "host",
                6379,
                false,
                0,
                Some("user"),
            ),
            ("redis://host/", "host", 6379, false, 0, None),
            ("redis://[::1]:7000/3", "::1", 7000, false, 3, None),
            (
                "redis://default@valkey/15",
                "valkey",
                6379,
                false,
                15,
                Some("default"),
            ),
        ];
        for (text, host, port, tls, database, user) in cases {
            let url: StateUrl = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.host(), host, "{text}");
            assert_eq!(url.port(), port, "{text}");
            assert_eq!(url.tls(), tls, "{text}");
            assert_eq!(url.database(), database, "{text}");
            assert_eq!(url.username(), user, "{text}");
            assert_eq!(
                url.expose_url().parse::<StateUrl>().as_ref(),
                Ok(&url),
                "{text}"
            );
        }
    }

    #[test]
    fn the_password_is_masked_in_display_and_debug_and_decoded_for_the_client() {
        let url: StateUrl = format!("rediss://app:{PASSWORD}%21@cache:6380/2")
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "rediss://app:***@cache:6380/2");
        assert_eq!(url.masked(), url.to_string());
        assert_eq!(
            format!("{url:?}"),
            "StateUrl(\"rediss://app:***@cache:6380/2\")"
        );
        assert_eq!(url.expose_password(), Some(&*format!("{PASSWORD}!")));
        assert!(url.expose_url().contains(PASSWORD));
        let lone: StateUrl = format!("redis://{PASSWORD}@h").parse().unwrap();
        assert_eq!(
            lone.to_string(),
            "redis://***@h:6379/0",
            "maybe a misplaced password"
        );
        let anonymous: StateUrl = format!("redis://:{PASSWORD}@h").parse().unwrap();
        assert_eq!(anonymous.to_string(), "redis://:***@h:6379/0");
        let config = Config::from_env(&env(&[(
            vars::STATE_URL,
            anonymous.expose_url().to_owned(),
        )]))
        .unwrap();
        assert_eq!(config.state_url.as_ref(), Some(&anonymous));
        assert!(!format!("{config:?}").contains(PASSWORD));
    }

    #[test]
    fn a_malformed_url_is_a_gap_that_never_shows_the_password() {
        let p = PASSWORD;
        let bad = [
            (format!("http://:{p}@host:6379"), "scheme"),
            (format!("redis://:{p}@"), "not a URL"),
            (format!("redis:{p}"), "no host"),
            (format!("redis://:{p}@host:99999"), "not a URL"),
            (format!("redis://:{p}@host:0"), "port 0"),
            (format!("redis://:{p}@host/db"), "path"),
            (format!("redis://:{p}@host/+1"), "path"),
            (format!("redis://:{p}@host/1/2"), "path"),
            (format!("redis://host/{p}"), "path"),
            (format!("redis://:{p}@host/1?protocol=resp3"), "query"),
            (format!("redis://:{p}@host#insecure"), "fragment"),
            (format!("redis://host/?password={p}"), "query"),
            (format!("{p} is not a url"), "not a URL"),
            (format!("redis://:{p}%ff@host"), "percent-encoded"),
        ];
        for (value, why) in bad {
            let gaps = Config::from_env(&env(&[(vars::STATE_URL, value.clone())]))
                .expect_err(&format!("{value} must be a gap"));
            let gap = &gaps.as_slice()[0];
            assert_eq!(gap.variable, vars::STATE_URL);
            assert!(gap.problem.contains(why), "{value}: {}", gap.problem);
            assert!(gap.accepted.contains("rediss://"), "{}", gap.accepted);
            let text = gaps.to_string();
            assert!(!text.contains(p), "{value}: {text}");
            assert!(!format!("{gaps:?}").contains(p), "{value}");
            assert!(
                !value.parse::<StateUrl>().unwrap_err().contains(p),
                "{value}"
            );
        }
        let gaps = Config::from_env(&env(&[(vars::STATE_URL, String::new())])).unwrap_err();
        assert_eq!(
            gaps.as_slice()[0].variable,
            vars::STATE_URL,
            "set but empty: {gaps}"
        );
    }

    #[test]
    fn the_timeout_is_1_to_60000_ms_and_50_by_default() {
        let config = Config::from_env(&env(&[])).unwrap();
        assert_eq!(config.state_timeout, DEFAULT_STATE_TIMEOUT);
        assert_eq!(config.state_url, None);
        assert_eq!(config.state_warning(), None, "no URL, nothing to probe");
        for (value, ms) in [("1", 1), ("60000", 60_000), (" 250 ", 250)] {
            let config =
                Config::from_env(&env(&[(vars::STATE_TIMEOUT, value.to_owned())])).unwrap();
            assert_eq!(config.state_timeout, Duration::from_millis(ms));
        }
        for value in ["0", "60001", "-5", "1.5", "50ms", "99999999999999999999999"] {
            let gaps = Config::from_env(&env(&[(vars::STATE_TIMEOUT, value.to_owned())]))
                .expect_err(value);
            assert_eq!(gaps.as_slice()[0].variable, vars::STATE_TIMEOUT, "{value}");
            assert!(gaps.as_slice()[0].accepted.contains("60000"));
        }
    }

    #[test]
    fn the_probe_answers_for_a_listener_and_warns_without_the_password_for_none() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url: StateUrl = format!("redis://:{PASSWORD}@127.0.0.1:{port}")
            .parse()
            .unwrap();
        assert_eq!(probe_state(&url, Duration::from_millis(500)), Ok(()));
        drop(listener);
        let why = probe_state(&url, Duration::from_millis(500)).unwrap_err();
        assert!(why.contains(&format!("127.0.0.1:{port}")), "{why}");

        let config =
            Config::from_env(&env(&[(vars::STATE_URL, url.expose_url().to_owned())])).unwrap();
        let warning = config.state_warning().expect("nothing listens");
        assert!(
            warning.starts_with("GOVOPS_STATE_URL redis://:***@127.0.0.1:"),
            "{warning}"
        );
        assert!(
            warning.contains("starts anyway, with its own guard state"),
            "{warning}"
        );
        assert!(!warning.contains(PASSWORD), "{warning}");
    }
}
