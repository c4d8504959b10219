//! UDP trackers (BEP 15) through `bitswarm-utracker`, its errors mapped to
//! [`TrackerError`].

use std::time::Duration;

use bitswarm_core::InfoHashV1;
use bitswarm_utracker as utracker;

use super::{AnnounceEvent, AnnounceRequest, AnnounceResponse, ScrapeCounts, TrackerError};

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // Bounded: error chains are short, but do not trust that.
    for _ in 0..8 {
        let Some(s) = source else { break };
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps the UDP client's error for `url`.
fn map_error(url: &str, error: utracker::Error) -> TrackerError {
    let url = url.to_owned();
    let reason = error.to_string();
    match error {
        utracker::Error::Tracker { message, .. } => TrackerError::Failure {
            url,
            reason: message,
        },
        utracker::Error::Url { .. } | utracker::Error::InvalidRequest(_) => {
            TrackerError::BadUrl(url)
        }
        // opentracker's bare 8-byte reply to an info-hash it does not track
        // arrives as a `BadReply`.
        utracker::Error::Decode(_)
        | utracker::Error::BadReply { .. }
        | utracker::Error::UnexpectedAction { .. } => TrackerError::BadResponse { url, reason },
        _ => TrackerError::Unreachable { url, reason },
    }
}

/// Announces to a `udp://` tracker.
pub(crate) async fn announce(
    client: &utracker::TrackerClient,
    url: &str,
    request: &AnnounceRequest,
    key: u32,
) -> Result<AnnounceResponse, TrackerError> {
    let params = utracker::AnnounceParams {
        info_hash: request.info_hash,
        peer_id: request.peer_id,
        downloaded: request.downloaded,
        left: request.left,
        uploaded: request.uploaded,
        event: match request.event {
            AnnounceEvent::None => utracker::AnnounceEvent::None,
            AnnounceEvent::Started => utracker::AnnounceEvent::Started,
            AnnounceEvent::Completed => utracker::AnnounceEvent::Completed,
            AnnounceEvent::Stopped => utracker::AnnounceEvent::Stopped,
        },
        ip: None,
        key,
        num_want: Some(request.num_want),
        port: request.port,
    };
    let reply = client
        .announce(url, params)
        .await
        .map_err(|e| map_error(url, e))?;
    Ok(AnnounceResponse {
        interval: Duration::from_secs(u64::from(reply.interval)),
        min_interval: None,
        peers: reply.peers.into_iter().filter(|p| p.port() != 0).collect(),
        seeders: Some(reply.seeders),
        leechers: Some(reply.leechers),
        warning: None,
    })
}

/// Scrapes a `udp://` tracker for one torrent.
pub(crate) async fn scrape(
    client: &utracker::TrackerClient,
    url: &str,
    info_hash: InfoHashV1,
) -> Result<ScrapeCounts, TrackerError> {
    let stats = client
        .scrape(url, &[info_hash])
        .await
        .map_err(|e| map_error(url, e))?;
    let first = stats.first().ok_or_else(|| TrackerError::BadResponse {
        url: url.to_owned(),
        reason: "the scrape reply has no counts".into(),
    })?;
    Ok(ScrapeCounts {
        complete: first.seeders,
        downloaded: first.completed,
        incomplete: first.leechers,
    })
}
