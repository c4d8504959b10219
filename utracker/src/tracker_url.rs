//! `udp://host:port/path?query` tracker URLs.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::Error;
use crate::wire::UrlData;

/// A parsed UDP tracker URL: where to send, and the BEP 41 URL data to send along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerUrl {
    /// The host name or address literal (IPv6 without brackets).
    pub host: String,
    /// The host as an address, when the URL gives a literal.
    pub ip: Option<IpAddr>,
    /// The UDP port; BEP 15 URLs always name it.
    pub port: u16,
    /// The path and query (BEP 41), empty when the URL has neither.
    pub url_data: UrlData,
}

impl TrackerUrl {
    /// Parses `udp://host:port[/path][?query]`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |reason| Error::Url {
            url: input.to_owned(),
            reason,
        };
        let url = Url::parse(input).map_err(|_| bad("not a URL"))?;
        if url.scheme() != "udp" {
            return Err(bad("the scheme is not udp"));
        }
        let port = url.port().ok_or_else(|| bad("no port"))?;
        let (host, ip) = match url.host() {
            // `udp` is not a special scheme to the URL standard, so an IPv4
            // literal arrives as an opaque host name.
            Some(Host::Domain(d)) if !d.is_empty() => (d.to_owned(), d.parse().ok()),
            Some(Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
            Some(Host::Ipv6(a)) => (a.to_string(), Some(IpAddr::V6(a))),
            _ => return Err(bad("no host")),
        };
        let mut data = url.path().to_owned();
        if let Some(query) = url.query() {
            data.push('?');
            data.push_str(query);
        }
        let url_data = UrlData::new(data).ok_or_else(|| bad("path and query too long"))?;
        Ok(Self {
            host,
            ip,
            port,
            url_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_path_and_query() {
        let u = TrackerUrl::parse("udp://tracker.example:1337/announce?auth=abc").unwrap();
        assert_eq!(u.host, "tracker.example");
        assert_eq!(u.ip, None);
        assert_eq!(u.port, 1337);
        assert_eq!(u.url_data.as_bytes(), b"/announce?auth=abc");
    }

    #[test]
    fn parses_address_literals() {
        let u = TrackerUrl::parse("udp://[::1]:6969").unwrap();
        assert_eq!(u.ip, Some("::1".parse().unwrap()));
        assert!(u.url_data.is_empty());
        let u = TrackerUrl::parse("udp://127.0.0.1:6969/").unwrap();
        assert_eq!(u.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(u.url_data.as_bytes(), b"/");
    }

    #[test]
    fn rejects_other_schemes_and_missing_parts() {
        for bad in [
            "http://a:1/announce",
            "udp://a/announce",
            "udp://:80",
            "not a url",
        ] {
            assert!(
                matches!(TrackerUrl::parse(bad), Err(Error::Url { .. })),
                "{bad}"
            );
        }
    }
}
