//! HTTP(S) trackers: the announce and scrape URLs (BEP 3, BEP 48) and the
//! bencoded replies (BEP 3 dictionary peers, BEP 23 compact peers, BEP 7
//! `peers6`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bitswarm_bencode::{DecodeOptions, Mode, Value};
use bitswarm_core::InfoHashV1;

use super::{AnnounceEvent, AnnounceRequest, AnnounceResponse, ScrapeCounts, TrackerError};

/// The interval used when a reply gives none (BEP 3 makes it required, but
/// some trackers leave it out).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// The longest failure reason or warning kept from a reply, in bytes.
const MAX_MESSAGE_LEN: usize = 512;

/// Nesting deeper than this in a tracker reply is refused.
const MAX_DEPTH: usize = 8;

/// Writes `bytes` percent-encoded: every byte that is not an RFC 3986
/// unreserved character becomes `%XX` (how BEP 3 sends the raw 20-byte
/// `info_hash` and `peer_id`).
pub(crate) fn percent_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Checks that `url` is an http or https URL with a host, without a fragment.
fn parse_http_url(url: &str) -> Result<url::Url, TrackerError> {
    let mut parsed = url::Url::parse(url).map_err(|_| TrackerError::BadUrl(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(TrackerError::BadUrl(url.to_owned()));
    }
    parsed.set_fragment(None);
    Ok(parsed)
}

/// `url` with `params` (already encoded) appended to its query, keeping any
/// query it has (a passkey, for instance).
fn with_params(url: &url::Url, params: &str) -> String {
    let mut out = url.as_str().to_owned();
    match url.query() {
        None => out.push('?'),
        Some("") => {}
        Some(_) => out.push('&'),
    }
    out.push_str(params);
    out
}

/// The GET URL of an announce (BEP 3, `compact=1` of BEP 23).
pub(crate) fn announce_url(
    url: &str,
    request: &AnnounceRequest,
    key: u32,
) -> Result<String, TrackerError> {
    let base = parse_http_url(url)?;
    let mut q = String::with_capacity(256);
    q.push_str("info_hash=");
    percent_encode(request.info_hash.as_bytes(), &mut q);
    q.push_str("&peer_id=");
    percent_encode(request.peer_id.as_bytes(), &mut q);
    q.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&numwant={}&key={key:08x}",
        request.port, request.uploaded, request.downloaded, request.left, request.num_want,
    ));
    let event = match request.event {
        AnnounceEvent::None => None,
        AnnounceEvent::Started => Some("started"),
        AnnounceEvent::Completed => Some("completed"),
        AnnounceEvent::Stopped => Some("stopped"),
    };
    if let Some(event) = event {
        q.push_str("&event=");
        q.push_str(event);
    }
    Ok(with_params(&base, &q))
}

/// The scrape URL of an announce URL (BEP 48): the last path component must
/// begin with `announce`, which becomes `scrape`; otherwise the tracker has
/// no scrape convention and `None` is returned.
pub(crate) fn scrape_url(url: &str, info_hash: InfoHashV1) -> Result<Option<String>, TrackerError> {
    let mut base = parse_http_url(url)?;
    let path = base.path().to_owned();
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    let Some(rest) = path[cut..].strip_prefix("announce") else {
        return Ok(None);
    };
    let new_path = format!("{}scrape{rest}", &path[..cut]);
    base.set_path(&new_path);
    let mut q = String::from("info_hash=");
    percent_encode(info_hash.as_bytes(), &mut q);
    Ok(Some(with_params(&base, &q)))
}

fn bad(url: &str, reason: impl Into<String>) -> TrackerError {
    TrackerError::BadResponse {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// Text from the reply, lossily decoded and cut to a bounded length.
fn message(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_MESSAGE_LEN)];
    String::from_utf8_lossy(cut).into_owned()
}

/// Decodes a reply body into its top-level dictionary, and turns a
/// `failure reason` into [`TrackerError::Failure`].
pub(crate) fn decode_reply<'a>(url: &str, body: &'a [u8]) -> Result<Value<'a>, TrackerError> {
    let options = DecodeOptions {
        mode: Mode::Lenient,
        max_depth: MAX_DEPTH,
        ..DecodeOptions::default()
    };
    let value = options
        .decode(body)
        .map_err(|e| bad(url, format!("not bencode: {e}")))?
        .value;
    if value.as_dict().is_none() {
        return Err(bad(url, "the reply is not a dictionary"));
    }
    if let Some(reason) = value.get("failure reason") {
        let reason = reason
            .as_bytes()
            .map_or_else(|| "(not a string)".to_owned(), message);
        return Err(TrackerError::Failure {
            url: url.to_owned(),
            reason,
        });
    }
    Ok(value)
}

/// An optional non-negative integer field that fits in a `u32`.
fn u32_field(url: &str, dict: &Value<'_>, field: &str) -> Result<Option<u32>, TrackerError> {
    match dict.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(url, format!("`{field}` is not an integer in 0..=2^32-1"))),
    }
}

/// Reads compact peers: `len`-byte entries of an address and a big-endian port.
fn compact_peers(
    url: &str,
    field: &str,
    bytes: &[u8],
    out: &mut Vec<SocketAddr>,
) -> Result<(), TrackerError> {
    let entry = if field == "peers6" { 18 } else { 6 };
    if bytes.len() % entry != 0 {
        return Err(bad(
            url,
            format!(
                "`{field}` is {} bytes, not a multiple of {entry}",
                bytes.len()
            ),
        ));
    }
    for chunk in bytes.chunks_exact(entry) {
        let (ip, port) = chunk.split_at(entry - 2);
        let ip = match <[u8; 4]>::try_from(ip) {
            Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(ip) {
                Ok(v6) => IpAddr::V6(Ipv6Addr::from(v6)),
                Err(_) => continue,
            },
        };
        let port = u16::from_be_bytes([port[0], port[1]]);
        if port != 0 {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

/// Reads BEP 3 dictionary peers; entries with a host name instead of an
/// address, or without a usable port, are skipped.
fn dict_peers(
    url: &str,
    list: &[Value<'_>],
    out: &mut Vec<SocketAddr>,
) -> Result<(), TrackerError> {
    for peer in list {
        if peer.as_dict().is_none() {
            return Err(bad(url, "an entry of `peers` is not a dictionary"));
        }
        let ip = peer
            .get("ip")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok());
        let port = peer
            .get("port")
            .and_then(Value::as_int)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        if let (Some(ip), Some(port)) = (ip, port) {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

/// Reads an announce reply.
pub(crate) fn parse_announce(url: &str, body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let reply = decode_reply(url, body)?;
    let interval = u32_field(url, &reply, "interval")?
        .map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(u64::from(s)));
    let min_interval =
        u32_field(url, &reply, "min interval")?.map(|s| Duration::from_secs(u64::from(s)));
    let mut peers = Vec::new();
    match reply.get("peers") {
        None => {}
        Some(v) => match (v.as_bytes(), v.as_list()) {
            (Some(bytes), _) => compact_peers(url, "peers", bytes, &mut peers)?,
            (_, Some(list)) => dict_peers(url, list, &mut peers)?,
            _ => return Err(bad(url, "`peers` is neither a string nor a list")),
        },
    }
    if let Some(v) = reply.get("peers6") {
        let bytes = v
            .as_bytes()
            .ok_or_else(|| bad(url, "`peers6` is not a string"))?;
        compact_peers(url, "peers6", bytes, &mut peers)?;
    }
    Ok(AnnounceResponse {
        interval,
        min_interval,
        peers,
        seeders: u32_field(url, &reply, "complete")?,
        leechers: u32_field(url, &reply, "incomplete")?,
        warning: reply
            .get("warning message")
            .and_then(Value::as_bytes)
            .map(message),
    })
}

/// Reads a scrape reply (BEP 48) for one torrent. A tracker that does not
/// list the torrent knows no peer of it: the counts are zero.
pub(crate) fn parse_scrape(
    url: &str,
    body: &[u8],
    info_hash: InfoHashV1,
) -> Result<ScrapeCounts, TrackerError> {
    let reply = decode_reply(url, body)?;
    let files = reply
        .get("files")
        .ok_or_else(|| bad(url, "no `files` dictionary"))?;
    if files.as_dict().is_none() {
        return Err(bad(url, "`files` is not a dictionary"));
    }
    let Some(entry) = files.get(info_hash.as_bytes()) else {
        return Ok(ScrapeCounts::default());
    };
    if entry.as_dict().is_none() {
        return Err(bad(url, "the torrent's entry is not a dictionary"));
    }
    Ok(ScrapeCounts {
        complete: u32_field(url, entry, "complete")?.unwrap_or(0),
        downloaded: u32_field(url, entry, "downloaded")?.unwrap_or(0),
        incomplete: u32_field(url, entry, "incomplete")?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use bitswarm_bencode::{Encode, dict, list};
    use bitswarm_core::PeerId;

    use super::*;

    const URL: &str = "http://t.example/announce";

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHashV1(*b"\x00\x01 ab~-._%&=?/\xff\xfe\x80\x7f+A"),
            peer_id: PeerId(*b"-BW0100-0123456789ab"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            num_want: 50,
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        let mut out = String::new();
        percent_encode(b"aZ9-._~ %/\x00\xff", &mut out);
        assert_eq!(out, "aZ9-._~%20%25%2F%00%FF");
    }

    #[test]
    fn announce_url_has_every_field() {
        let url = announce_url(URL, &request(), 0xabc).unwrap();
        assert_eq!(
            url,
            "http://t.example/announce?info_hash=%00%01%20ab~-._%25%26%3D%3F%2F%FF%FE%80%7F%2BA\
             &peer_id=-BW0100-0123456789ab&port=6881&uploaded=1&downloaded=2&left=3&compact=1\
             &numwant=50&key=00000abc&event=started"
        );
    }

    #[test]
    fn announce_url_keeps_an_existing_query_and_drops_the_fragment() {
        let mut r = request();
        r.event = AnnounceEvent::None;
        let url = announce_url(
            "https://t.example:8443/a/announce.php?passkey=xyz#frag",
            &r,
            1,
        )
        .unwrap();
        assert!(
            url.starts_with("https://t.example:8443/a/announce.php?passkey=xyz&info_hash="),
            "{url}"
        );
        assert!(!url.contains("event="), "{url}");
        assert!(!url.contains('#'), "{url}");
    }

    #[test]
    fn announce_url_refuses_other_schemes() {
        for bad in [
            "udp://t.example:1/announce",
            "ftp://x/announce",
            "nonsense",
            "",
        ] {
            assert!(matches!(
                announce_url(bad, &request(), 0),
                Err(TrackerError::BadUrl(_))
            ));
        }
    }

    #[test]
    fn scrape_url_follows_bep_48() {
        let h = InfoHashV1([0x41; 20]);
        let enc = "A".repeat(20);
        let cases = [
            (
                "http://t.example/announce",
                Some(format!("http://t.example/scrape?info_hash={enc}")),
            ),
            (
                "http://t.example/x/announce.php?k=1",
                Some(format!("http://t.example/x/scrape.php?k=1&info_hash={enc}")),
            ),
            ("http://t.example/a", None),
            ("http://t.example/announce/x", None),
            ("http://t.example/x%064announce", None),
        ];
        for (input, expected) in cases {
            assert_eq!(scrape_url(input, h).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn reads_compact_dictionary_and_ipv6_peers() {
        let mut peers6 = vec![0u8; 16];
        peers6[15] = 1;
        peers6.extend_from_slice(&[0x1a, 0xe1]);
        let body = dict! {
            "complete" => 5,
            "incomplete" => 7,
            "interval" => 900,
            "min interval" => 60,
            "peers" => vec![10u8, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0],
            "peers6" => peers6,
            "warning message" => "slow down",
        }
        .to_bencode();
        let r = parse_announce(URL, &body).unwrap();
        assert_eq!(r.interval, Duration::from_secs(900));
        assert_eq!(r.min_interval, Some(Duration::from_secs(60)));
        assert_eq!(r.seeders, Some(5));
        assert_eq!(r.leechers, Some(7));
        assert_eq!(r.warning.as_deref(), Some("slow down"));
        // The entry with port 0 is dropped.
        assert_eq!(
            r.peers,
            vec![
                "10.0.0.1:6881".parse().unwrap(),
                "[::1]:6881".parse().unwrap()
            ]
        );

        let body = dict! {
            "interval" => 60,
            "peers" => list![
                dict! { "ip" => "192.0.2.7", "peer id" => vec![0u8; 20], "port" => 51413 },
                dict! { "ip" => "tracker.example", "port" => 1 },
                dict! { "ip" => "2001:db8::1", "port" => 6881 },
            ],
        }
        .to_bencode();
        let r = parse_announce(URL, &body).unwrap();
        assert_eq!(
            r.peers,
            vec![
                "192.0.2.7:51413".parse().unwrap(),
                "[2001:db8::1]:6881".parse().unwrap()
            ]
        );
    }

    #[test]
    fn failure_and_bad_replies_are_typed() {
        let body = dict! { "failure reason" => "unregistered torrent" }.to_bencode();
        assert_eq!(
            parse_announce(URL, &body),
            Err(TrackerError::Failure {
                url: URL.into(),
                reason: "unregistered torrent".into()
            })
        );
        let bads: [&[u8]; 6] = [
            b"<html>nope</html>",
            b"",
            b"li1ee",
            b"d8:intervali-1ee",
            b"d8:intervali60e5:peers5:abcdee",
            b"d8:intervali60e5:peersi3ee",
        ];
        for body in bads {
            assert!(
                matches!(
                    parse_announce(URL, body),
                    Err(TrackerError::BadResponse { .. })
                ),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn reads_scrape_counts() {
        let h = InfoHashV1([9; 20]);
        let body = dict! {
            "files" => dict! {
                vec![9u8; 20] => dict! { "complete" => 3, "downloaded" => 10, "incomplete" => 4 },
            },
        }
        .to_bencode();
        assert_eq!(
            parse_scrape(URL, &body, h).unwrap(),
            ScrapeCounts {
                complete: 3,
                downloaded: 10,
                incomplete: 4
            }
        );
        let other = parse_scrape(URL, &body, InfoHashV1([1; 20])).unwrap();
        assert_eq!(other, ScrapeCounts::default());
        assert!(matches!(
            parse_scrape(URL, b"de", h),
            Err(TrackerError::BadResponse { .. })
        ));
    }
}
