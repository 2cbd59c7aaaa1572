//! Egress checks: a tenant's HTTP client resolves names itself and connects only to the
//! addresses its capabilities allow, so `localhost`, a name that resolves to `127.0.0.1`, a
//! redirect to the metadata address and the other spellings of an internal address are all
//! refused before a connection is opened.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_core::capability::{Capabilities, literal_address};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A refused destination.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "egress to `{host}` ({address}) is not allowed: it is an internal address (loopback, private, link-local or metadata); a platform administrator can allow it in the tenant's `internal_hosts`"
)]
pub struct Denied {
    pub host: String,
    pub address: String,
}

impl Denied {
    /// The stable code of the refusal.
    pub const CODE: &'static str = "capability.egress";
}

/// The run's client: the operator's reaches anything; a tenant's checks every address.
pub(crate) fn client(caps: &Arc<Capabilities>) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("gauntlet/", env!("CARGO_PKG_VERSION")));
    let builder = if caps.checks_egress() {
        let policy = Arc::clone(caps);
        builder
            // A proxy from the server's environment would be connected to instead of the
            // checked address.
            .no_proxy()
            .dns_resolver(Arc::new(Checked {
                caps: Arc::clone(caps),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    return attempt.error("too many redirects");
                }
                let url = attempt.url().to_string();
                match check_url(&policy, &url) {
                    Ok(()) => attempt.follow(),
                    Err(denied) => attempt.error(denied),
                }
            }))
    } else {
        builder
    };
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// Checks a URL whose host is an address literal (a client connects to those without
/// resolving them).
pub fn check_url(caps: &Capabilities, url: &str) -> Result<(), Denied> {
    if !caps.checks_egress() {
        return Ok(());
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(()); // the client refuses it with its own error
    };
    // The URL parser normalises every IPv4 spelling (`0x7f.1`, `2130706433`) to dotted form.
    let Some(ip) = parsed.host_str().and_then(literal_address) else {
        return Ok(());
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    if caps.allows_address(&host, ip) {
        Ok(())
    } else {
        Err(Denied {
            host,
            address: ip.to_string(),
        })
    }
}

/// Resolves names with the system resolver and drops every address the capabilities do not
/// allow; a name left with none is an error naming it.
struct Checked {
    caps: Arc<Capabilities>,
}

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let caps = Arc::clone(&self.caps);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|a| caps.allows_address(&host, a.ip()));
            if allowed.is_empty()
                && let Some(first) = refused.first()
            {
                let denied: Box<dyn std::error::Error + Send + Sync> = Box::new(Denied {
                    host,
                    address: first.ip().to_string(),
                });
                return Err(denied);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}
