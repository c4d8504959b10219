//! [`TrackerClient`]: the client core on one UDP socket per address family.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitswarm_core::InfoHashV1;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::udp_socket;
use crate::client::{AnnounceParams, AnnounceReply, Client, ClientConfig, Reply, RequestId};
use crate::error::Error;
use crate::tracker_url::TrackerUrl;
use crate::wire::{MAX_DATAGRAM, MAX_SCRAPE_HASHES, ScrapeStats, UrlData};

/// How a [`TrackerClient`] binds and behaves.
#[derive(Debug, Clone)]
pub struct TrackerClientConfig {
    /// The protocol core's settings (retransmission, limits).
    pub core: ClientConfig,
    /// Where the IPv4 socket binds; `None` for no IPv4.
    pub bind_v4: Option<SocketAddr>,
    /// Where the IPv6 socket binds; `None` for no IPv6. If binding fails
    /// (no IPv6 on the host), the client goes on with IPv4 only.
    pub bind_v6: Option<SocketAddr>,
    /// How many commands may wait for the driver before callers wait too.
    pub command_queue: usize,
}

impl Default for TrackerClientConfig {
    fn default() -> Self {
        Self {
            core: ClientConfig::default(),
            bind_v4: Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            bind_v6: Some(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
            command_queue: 1024,
        }
    }
}

/// Datagrams read per wake-up of the driver.
const DRAIN: usize = 256;

type Responder = oneshot::Sender<Result<Reply, Error>>;

enum Command {
    Announce(SocketAddr, UrlData, AnnounceParams, Responder),
    Scrape(SocketAddr, Vec<InfoHashV1>, Responder),
}

/// A cloneable handle to a UDP tracker client: one socket per address
/// family, shared by every tracker and torrent, driven by one task.
///
/// Requests are futures; dropping one cancels the request (the driver notices
/// within a second). The driver stops when every handle is dropped and its
/// last request has finished.
#[derive(Debug, Clone)]
pub struct TrackerClient {
    commands: mpsc::Sender<Command>,
    local: Arc<[SocketAddr]>,
}

impl TrackerClient {
    /// Binds the sockets and starts the driver task on the current tokio runtime.
    pub async fn bind(config: TrackerClientConfig) -> Result<Self, Error> {
        let v4 = config.bind_v4.map(udp_socket).transpose()?;
        let v6 = match config.bind_v6.map(udp_socket) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) if v4.is_some() => {
                tracing::debug!(error = %e, "no IPv6 socket; IPv4 only");
                None
            }
            Some(Err(e)) => return Err(e),
            None => None,
        };
        if v4.is_none() && v6.is_none() {
            return Err(Error::InvalidRequest("a client needs at least one socket"));
        }
        let local = [&v4, &v6]
            .into_iter()
            .flatten()
            .filter_map(|s| s.local_addr().ok())
            .collect();
        let (tx, rx) = mpsc::channel(config.command_queue.max(1));
        let driver = Driver {
            limit: config.core.max_in_flight,
            core: Client::new(config.core),
            v4,
            v6,
            commands: rx,
            waiters: HashMap::new(),
        };
        tokio::spawn(driver.run());
        Ok(Self {
            commands: tx,
            local,
        })
    }

    /// The local addresses of the sockets.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Announces to the tracker at `url` (`udp://host:port[/path?query]`).
    pub async fn announce(
        &self,
        url: &str,
        params: AnnounceParams,
    ) -> Result<AnnounceReply, Error> {
        let url = TrackerUrl::parse(url)?;
        let tracker = self.resolve(&url).await?;
        self.announce_to(tracker, url.url_data, params).await
    }

    /// Announces to a tracker by address, with the BEP 41 `url_data` to send along.
    pub async fn announce_to(
        &self,
        tracker: SocketAddr,
        url_data: UrlData,
        params: AnnounceParams,
    ) -> Result<AnnounceReply, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Announce(tracker, url_data, params, tx))
            .await?;
        match rx.await.map_err(|_| Error::Cancelled)?? {
            Reply::Announce(a) => Ok(a),
            Reply::Scrape(_) => Err(Error::Cancelled),
        }
    }

    /// Scrapes the tracker at `url`: one count per hash, in order. More than
    /// 74 hashes are split into several requests sent together.
    pub async fn scrape(
        &self,
        url: &str,
        hashes: &[InfoHashV1],
    ) -> Result<Vec<ScrapeStats>, Error> {
        let url = TrackerUrl::parse(url)?;
        let tracker = self.resolve(&url).await?;
        self.scrape_at(tracker, hashes).await
    }

    /// Scrapes a tracker by address.
    pub async fn scrape_at(
        &self,
        tracker: SocketAddr,
        hashes: &[InfoHashV1],
    ) -> Result<Vec<ScrapeStats>, Error> {
        let mut pending = Vec::new();
        for chunk in hashes.chunks(MAX_SCRAPE_HASHES) {
            let (tx, rx) = oneshot::channel();
            self.send(Command::Scrape(tracker, chunk.to_vec(), tx))
                .await?;
            pending.push(rx);
        }
        let mut all = Vec::with_capacity(hashes.len());
        for rx in pending {
            match rx.await.map_err(|_| Error::Cancelled)?? {
                Reply::Scrape(s) => all.extend(s),
                Reply::Announce(_) => return Err(Error::Cancelled),
            }
        }
        Ok(all)
    }

    async fn send(&self, command: Command) -> Result<(), Error> {
        self.commands
            .send(command)
            .await
            .map_err(|_| Error::Cancelled)
    }

    /// The tracker's address: the literal, or the first resolved address of a
    /// family this client has a socket for.
    async fn resolve(&self, url: &TrackerUrl) -> Result<SocketAddr, Error> {
        let usable = |a: &SocketAddr| self.local.iter().any(|l| l.is_ipv4() == a.is_ipv4());
        let candidates: Vec<SocketAddr> = match url.ip {
            Some(ip) => vec![SocketAddr::new(ip, url.port)],
            None => tokio::net::lookup_host((url.host.as_str(), url.port))
                .await
                .map_err(|e| Error::Resolve {
                    host: url.host.clone(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        candidates
            .into_iter()
            .find(usable)
            .ok_or_else(|| Error::Resolve {
                host: url.host.clone(),
                reason: "no address of a family this client has a socket for".into(),
            })
    }
}

struct Driver {
    core: Client,
    limit: usize,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    commands: mpsc::Receiver<Command>,
    waiters: HashMap<RequestId, Responder>,
}

/// Receives from `socket`, or waits forever when there is none.
async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(mut self) {
        let mut buf4 = vec![0; MAX_DATAGRAM];
        let mut buf6 = vec![0; MAX_DATAGRAM];
        let mut out = Vec::with_capacity(1500);
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        loop {
            self.flush(&mut out).await;
            if !open && self.waiters.is_empty() {
                break;
            }
            let deadline = self.core.poll_timeout();
            // At the core's limit, leave commands queued: callers wait instead of failing.
            let room = self.core.in_flight() < self.limit;
            tokio::select! {
                command = self.commands.recv(), if open && room => match command {
                    Some(c) => self.command(c),
                    None => open = false,
                },
                r = recv(self.v4.as_ref(), &mut buf4) => {
                    self.datagram(r, &buf4);
                    self.drain(true, &mut buf4);
                }
                r = recv(self.v6.as_ref(), &mut buf6) => {
                    self.datagram(r, &buf6);
                    self.drain(false, &mut buf6);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.core.handle_timeout(now());
                }
                _ = sweep.tick() => self.drop_cancelled(),
            }
        }
        tracing::debug!("tracker client driver stopped");
    }

    fn command(&mut self, command: Command) {
        let now = now();
        let (result, responder) = match command {
            Command::Announce(tracker, url_data, params, tx) => {
                let r = if self.has_socket_for(&tracker) {
                    self.core.announce(now, tracker, url_data, params)
                } else {
                    Err(no_socket(tracker))
                };
                (r, tx)
            }
            Command::Scrape(tracker, hashes, tx) => {
                let r = if self.has_socket_for(&tracker) {
                    self.core.scrape(now, tracker, hashes)
                } else {
                    Err(no_socket(tracker))
                };
                (r, tx)
            }
        };
        match result {
            Ok(id) => {
                self.waiters.insert(id, responder);
            }
            Err(e) => {
                let _ = responder.send(Err(e));
            }
        }
    }

    fn has_socket_for(&self, tracker: &SocketAddr) -> bool {
        if tracker.is_ipv4() {
            self.v4.is_some()
        } else {
            self.v6.is_some()
        }
    }

    fn datagram(&mut self, received: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match received {
            Ok((n, from)) => self.core.handle_datagram(now(), from, &buf[..n]),
            // ICMP errors (port unreachable) surface here on Linux; the
            // retransmission timer covers them.
            Err(e) => tracing::trace!(error = %e, "UDP receive error"),
        }
    }

    /// Reads what else is queued on a socket without going back through
    /// the select, so that a burst of replies does not overflow its buffer.
    fn drain(&mut self, v4: bool, buf: &mut [u8]) {
        for _ in 0..DRAIN {
            let socket = if v4 {
                self.v4.as_ref()
            } else {
                self.v6.as_ref()
            };
            let Some(socket) = socket else { return };
            match socket.try_recv_from(buf) {
                Ok((n, from)) => self.core.handle_datagram(now(), from, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => tracing::trace!(error = %e, "UDP receive error"),
            }
        }
    }

    fn drop_cancelled(&mut self) {
        let gone: Vec<RequestId> = self
            .waiters
            .iter()
            .filter(|(_, tx)| tx.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.waiters.remove(&id);
            self.core.cancel(id);
        }
    }

    async fn flush(&mut self, out: &mut Vec<u8>) {
        while let Some(t) = self.core.poll_transmit(out) {
            let socket = if t.destination.is_ipv4() {
                self.v4.as_ref()
            } else {
                self.v6.as_ref()
            };
            if let Some(socket) = socket
                && let Err(e) = socket.send_to(out, t.destination).await
            {
                // A lost datagram is what retransmission is for.
                tracing::debug!(error = %e, to = %t.destination, "UDP send failed");
            }
        }
        while let Some(ev) = self.core.poll_event() {
            if let Some(tx) = self.waiters.remove(&ev.id) {
                let _ = tx.send(ev.result);
            }
        }
    }
}

fn no_socket(tracker: SocketAddr) -> Error {
    Error::Resolve {
        host: tracker.ip().to_string(),
        reason: "no socket of this address family".into(),
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
