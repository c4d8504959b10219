//! KRPC, the DHT's wire format (BEP 5): bencoded dictionaries over UDP.
//!
//! Every message has a transaction id `t`, a type `y` (`q` query, `r`
//! response, `e` error), and optionally a client version `v`, the sender's
//! view of our address `ip` (BEP 42) and the read-only flag `ro` (BEP 43).
//! Decoding is bounded: a message is at most [`MAX_MESSAGE_LEN`] bytes, node
//! and peer lists are cut at fixed counts, and every field has a maximum size.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bitswarm_bencode::{DecodeOptions, Dict, Encode, Kind, Mode, Value};

use crate::error::DecodeError;
use crate::id::NodeId;

/// The largest datagram decoded; anything longer is refused unread.
pub const MAX_MESSAGE_LEN: usize = 8192;
/// The most nodes read from one `nodes` or `nodes6` field.
pub const MAX_NODES: usize = 64;
/// The most peers read from one `values` field.
pub const MAX_VALUES: usize = 512;
/// The most info-hashes read from one `samples` field (BEP 51).
pub const MAX_SAMPLES: usize = 512;
/// The longest transaction id, token or salt accepted.
pub const MAX_SHORT_BYTES: usize = 64;
/// The largest BEP 44 value `v`, bencoded.
pub const MAX_ITEM_LEN: usize = 1000;

/// A KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `t`: chosen by the querier, echoed by the responder.
    pub transaction_id: Vec<u8>,
    /// `v`: the sender's client version, when given.
    pub version: Option<Vec<u8>>,
    /// `ip`: the address the sender saw us at (BEP 42), in replies.
    pub ip: Option<SocketAddr>,
    /// `ro`: the querier is read-only and must not enter routing tables (BEP 43).
    pub read_only: bool,
    /// The query, response or error.
    pub body: Body,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`: `[code, message]`; BEP 5 codes are 201 generic, 202 server,
    /// 203 protocol, 204 method unknown.
    Error {
        /// The error code.
        code: i64,
        /// Its text.
        message: String,
    },
}

/// Which address families a querier wants nodes of (BEP 32 `want`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Want {
    /// `n4`.
    pub v4: bool,
    /// `n6`.
    pub v6: bool,
}

impl Want {
    /// Whether the field was present at all.
    pub fn is_given(&self) -> bool {
        self.v4 || self.v6
    }
}

/// A BEP 44 item sent with `put`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutItem {
    /// `v`: the bencoded value, exactly as signed.
    pub value: Vec<u8>,
    /// `k`: the ed25519 public key of a mutable item.
    pub key: Option<[u8; 32]>,
    /// `sig`: the signature of a mutable item.
    pub signature: Option<[u8; 64]>,
    /// `seq`: the sequence number of a mutable item.
    pub seq: Option<i64>,
    /// `cas`: the sequence number the writer expects to replace.
    pub cas: Option<i64>,
    /// `salt`: distinguishes several items under one key.
    pub salt: Option<Vec<u8>>,
}

/// A KRPC query (`y = q`); every one carries the querier's `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `ping`.
    Ping {
        /// The querier.
        id: NodeId,
    },
    /// `find_node`: the nodes closest to `target`.
    FindNode {
        /// The querier.
        id: NodeId,
        /// What to look for.
        target: NodeId,
        /// BEP 32 `want`.
        want: Want,
    },
    /// `get_peers`: peers of `info_hash`, or the nodes closest to it.
    GetPeers {
        /// The querier.
        id: NodeId,
        /// The torrent.
        info_hash: NodeId,
        /// BEP 32 `want`.
        want: Want,
    },
    /// `announce_peer`: store the querier as a peer of `info_hash`.
    AnnouncePeer {
        /// The querier.
        id: NodeId,
        /// The torrent.
        info_hash: NodeId,
        /// Its port, unless `implied_port`.
        port: u16,
        /// Use the UDP source port instead of `port`.
        implied_port: bool,
        /// The token from an earlier `get_peers` reply.
        token: Vec<u8>,
    },
    /// `get` (BEP 44).
    Get {
        /// The querier.
        id: NodeId,
        /// The item's target.
        target: NodeId,
        /// Send the value only if newer than this.
        seq: Option<i64>,
        /// BEP 32 `want`.
        want: Want,
    },
    /// `put` (BEP 44).
    Put {
        /// The querier.
        id: NodeId,
        /// The token from an earlier `get` reply.
        token: Vec<u8>,
        /// The item.
        item: PutItem,
    },
    /// `sample_infohashes` (BEP 51).
    SampleInfohashes {
        /// The querier.
        id: NodeId,
        /// Where to look for closer nodes.
        target: NodeId,
        /// BEP 32 `want`.
        want: Want,
    },
}

impl Query {
    /// The querier's id.
    pub fn id(&self) -> NodeId {
        match self {
            Self::Ping { id }
            | Self::FindNode { id, .. }
            | Self::GetPeers { id, .. }
            | Self::AnnouncePeer { id, .. }
            | Self::Get { id, .. }
            | Self::Put { id, .. }
            | Self::SampleInfohashes { id, .. } => *id,
        }
    }

    /// The method name on the wire.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Ping { .. } => "ping",
            Self::FindNode { .. } => "find_node",
            Self::GetPeers { .. } => "get_peers",
            Self::AnnouncePeer { .. } => "announce_peer",
            Self::Get { .. } => "get",
            Self::Put { .. } => "put",
            Self::SampleInfohashes { .. } => "sample_infohashes",
        }
    }
}

/// A node in a compact node list: id, address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactNode {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// A KRPC response (`y = r`). Responses do not name the query they answer,
/// so every field a response may carry is optional here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The responder.
    pub id: NodeId,
    /// `nodes`: IPv4 nodes close to the target.
    pub nodes: Vec<CompactNode>,
    /// `nodes6`: IPv6 nodes close to the target (BEP 32).
    pub nodes6: Vec<CompactNode>,
    /// `values`: peers of the info-hash.
    pub values: Vec<SocketAddr>,
    /// `token`: for a later `announce_peer` or `put`.
    pub token: Option<Vec<u8>>,
    /// `samples`: info-hashes the responder stores (BEP 51).
    pub samples: Option<Vec<NodeId>>,
    /// `interval`: seconds before sampling this node again (BEP 51).
    pub interval: Option<i64>,
    /// `num`: how many info-hashes the responder stores (BEP 51).
    pub num: Option<i64>,
    /// `v`: a BEP 44 value, bencoded.
    pub value: Option<Vec<u8>>,
    /// `k`: a mutable item's key.
    pub key: Option<[u8; 32]>,
    /// `sig`: a mutable item's signature.
    pub signature: Option<[u8; 64]>,
    /// `seq`: a mutable item's sequence number.
    pub seq: Option<i64>,
}

impl Response {
    /// A response carrying only the responder's id.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

// ---- encoding -------------------------------------------------------------

fn put_key(out: &mut Vec<u8>, key: &str) {
    key.encode(out);
}

/// Compact form of a peer address: 4 or 16 address bytes, then the port.
pub fn compact_addr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

fn compact_nodes(nodes: &[CompactNode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * 38);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        compact_addr(&n.addr, &mut out);
    }
    out
}

fn put_want(out: &mut Vec<u8>, want: Want) {
    if want.is_given() {
        put_key(out, "want");
        out.push(b'l');
        if want.v4 {
            "n4".encode(out);
        }
        if want.v6 {
            "n6".encode(out);
        }
        out.push(b'e');
    }
}

impl Message {
    /// Appends the bencoding of this message to `out`, keys in sorted order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        match &self.body {
            Body::Query(q) => {
                put_key(out, "a");
                encode_query_args(q, out);
            }
            Body::Error { code, message } => {
                put_key(out, "e");
                out.push(b'l');
                code.encode(out);
                message.as_str().encode(out);
                out.push(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.ip {
            put_key(out, "ip");
            let mut b = Vec::with_capacity(18);
            compact_addr(ip, &mut b);
            b.encode(out);
        }
        if let Body::Query(q) = &self.body {
            put_key(out, "q");
            q.method().encode(out);
        }
        if let Body::Response(r) = &self.body {
            put_key(out, "r");
            encode_response(r, out);
        }
        if self.read_only {
            put_key(out, "ro");
            1i64.encode(out);
        }
        put_key(out, "t");
        self.transaction_id.encode(out);
        if let Some(v) = &self.version {
            put_key(out, "v");
            v.encode(out);
        }
        put_key(out, "y");
        match self.body {
            Body::Query(_) => "q",
            Body::Response(_) => "r",
            Body::Error { .. } => "e",
        }
        .encode(out);
        out.push(b'e');
    }

    /// The bencoding of this message in a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        out
    }
}

fn encode_query_args(q: &Query, out: &mut Vec<u8>) {
    out.push(b'd');
    match q {
        Query::Ping { id } => {
            put_key(out, "id");
            id.0.encode(out);
        }
        Query::FindNode { id, target, want } => {
            put_key(out, "id");
            id.0.encode(out);
            put_key(out, "target");
            target.0.encode(out);
            put_want(out, *want);
        }
        Query::GetPeers {
            id,
            info_hash,
            want,
        } => {
            put_key(out, "id");
            id.0.encode(out);
            put_key(out, "info_hash");
            info_hash.0.encode(out);
            put_want(out, *want);
        }
        Query::AnnouncePeer {
            id,
            info_hash,
            port,
            implied_port,
            token,
        } => {
            put_key(out, "id");
            id.0.encode(out);
            if *implied_port {
                put_key(out, "implied_port");
                1i64.encode(out);
            }
            put_key(out, "info_hash");
            info_hash.0.encode(out);
            put_key(out, "port");
            i64::from(*port).encode(out);
            put_key(out, "token");
            token.encode(out);
        }
        Query::Get {
            id,
            target,
            seq,
            want,
        } => {
            put_key(out, "id");
            id.0.encode(out);
            if let Some(seq) = seq {
                put_key(out, "seq");
                seq.encode(out);
            }
            put_key(out, "target");
            target.0.encode(out);
            put_want(out, *want);
        }
        Query::Put { id, token, item } => {
            if let Some(cas) = item.cas {
                put_key(out, "cas");
                cas.encode(out);
            }
            put_key(out, "id");
            id.0.encode(out);
            if let Some(k) = &item.key {
                put_key(out, "k");
                k.encode(out);
            }
            if let Some(salt) = &item.salt {
                put_key(out, "salt");
                salt.encode(out);
            }
            if let Some(seq) = item.seq {
                put_key(out, "seq");
                seq.encode(out);
            }
            if let Some(sig) = &item.signature {
                put_key(out, "sig");
                sig.encode(out);
            }
            put_key(out, "token");
            token.encode(out);
            put_key(out, "v");
            out.extend_from_slice(&item.value);
        }
        Query::SampleInfohashes { id, target, want } => {
            put_key(out, "id");
            id.0.encode(out);
            put_key(out, "target");
            target.0.encode(out);
            put_want(out, *want);
        }
    }
    out.push(b'e');
}

fn encode_response(r: &Response, out: &mut Vec<u8>) {
    out.push(b'd');
    put_key(out, "id");
    r.id.0.encode(out);
    if let Some(i) = r.interval {
        put_key(out, "interval");
        i.encode(out);
    }
    if let Some(k) = &r.key {
        put_key(out, "k");
        k.encode(out);
    }
    if !r.nodes.is_empty() {
        put_key(out, "nodes");
        compact_nodes(&r.nodes).encode(out);
    }
    if !r.nodes6.is_empty() {
        put_key(out, "nodes6");
        compact_nodes(&r.nodes6).encode(out);
    }
    if let Some(n) = r.num {
        put_key(out, "num");
        n.encode(out);
    }
    if let Some(samples) = &r.samples {
        put_key(out, "samples");
        let mut b = Vec::with_capacity(samples.len() * 20);
        for s in samples {
            b.extend_from_slice(&s.0);
        }
        b.encode(out);
    }
    if let Some(seq) = r.seq {
        put_key(out, "seq");
        seq.encode(out);
    }
    if let Some(sig) = &r.signature {
        put_key(out, "sig");
        sig.encode(out);
    }
    if let Some(t) = &r.token {
        put_key(out, "token");
        t.encode(out);
    }
    if let Some(v) = &r.value {
        put_key(out, "v");
        out.extend_from_slice(v);
    }
    if !r.values.is_empty() {
        put_key(out, "values");
        out.push(b'l');
        let mut b = Vec::with_capacity(18);
        for p in &r.values {
            b.clear();
            compact_addr(p, &mut b);
            b.encode(out);
        }
        out.push(b'e');
    }
    out.push(b'e');
}

// ---- decoding -------------------------------------------------------------

fn options() -> DecodeOptions {
    DecodeOptions {
        mode: Mode::Lenient,
        max_depth: 16,
        max_bytes_len: MAX_MESSAGE_LEN,
        // Every value takes at least two bytes of the message.
        max_values: MAX_MESSAGE_LEN / 2,
    }
}

fn bytes<'a>(d: &Dict<'a>, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
    match d.get(field) {
        None => Ok(None),
        Some(v) => v.as_bytes().map(Some).ok_or(DecodeError::WrongType {
            field,
            expected: "a byte string",
        }),
    }
}

fn req_bytes<'a>(d: &Dict<'a>, field: &'static str) -> Result<&'a [u8], DecodeError> {
    bytes(d, field)?.ok_or(DecodeError::Missing { field })
}

fn short_bytes(d: &Dict<'_>, field: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
    match bytes(d, field)? {
        Some(b) if b.len() > MAX_SHORT_BYTES => Err(DecodeError::BadLength {
            field,
            len: b.len(),
        }),
        Some(b) => Ok(Some(b.to_vec())),
        None => Ok(None),
    }
}

fn int(d: &Dict<'_>, field: &'static str) -> Result<Option<i64>, DecodeError> {
    match d.get(field) {
        None => Ok(None),
        Some(v) => v.as_int().map(Some).ok_or(DecodeError::WrongType {
            field,
            expected: "an integer",
        }),
    }
}

fn fixed<const N: usize>(
    d: &Dict<'_>,
    field: &'static str,
) -> Result<Option<[u8; N]>, DecodeError> {
    match bytes(d, field)? {
        None => Ok(None),
        Some(b) => b.try_into().map(Some).map_err(|_| DecodeError::BadLength {
            field,
            len: b.len(),
        }),
    }
}

fn node_id(d: &Dict<'_>, field: &'static str) -> Result<NodeId, DecodeError> {
    fixed::<20>(d, field)?
        .map(NodeId)
        .ok_or(DecodeError::Missing { field })
}

/// Reads a compact peer address of 6 (IPv4) or 18 (IPv6) bytes.
pub fn parse_compact_addr(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => {
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Some(SocketAddr::new(ip.into(), u16::from_be_bytes([b[4], b[5]])))
        }
        18 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[16], b[17]]);
            Some(SocketAddr::new(Ipv6Addr::from(o).into(), port))
        }
        _ => None,
    }
}

fn parse_nodes(
    d: &Dict<'_>,
    field: &'static str,
    addr_len: usize,
) -> Result<Vec<CompactNode>, DecodeError> {
    let Some(b) = bytes(d, field)? else {
        return Ok(Vec::new());
    };
    let entry = 20 + addr_len;
    if b.len() % entry != 0 {
        return Err(DecodeError::BadLength {
            field,
            len: b.len(),
        });
    }
    Ok(b.chunks_exact(entry)
        .take(MAX_NODES)
        .filter_map(|c| {
            let id = NodeId::from_slice(&c[..20])?;
            let addr = parse_compact_addr(&c[20..])?;
            Some(CompactNode { id, addr })
        })
        .collect())
}

fn parse_want(d: &Dict<'_>) -> Want {
    let mut want = Want::default();
    if let Some(list) = d.get("want").and_then(Value::as_list) {
        for item in list.iter().take(8) {
            match item.as_bytes() {
                Some(b"n4") => want.v4 = true,
                Some(b"n6") => want.v6 = true,
                _ => {}
            }
        }
    }
    want
}

fn item_value(d: &Dict<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    match d.get("v") {
        None => Ok(None),
        Some(v) if v.raw().len() > MAX_ITEM_LEN => Err(DecodeError::BadLength {
            field: "v",
            len: v.raw().len(),
        }),
        Some(v) => Ok(Some(v.raw().to_vec())),
    }
}

fn parse_query(method: &[u8], a: &Dict<'_>, t: &[u8]) -> Result<Query, DecodeError> {
    let id = node_id(a, "id")?;
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: node_id(a, "target")?,
            want: parse_want(a),
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: node_id(a, "info_hash")?,
            want: parse_want(a),
        },
        b"announce_peer" => {
            let port = int(a, "port")?.unwrap_or(0);
            let implied_port = int(a, "implied_port")?.unwrap_or(0) != 0;
            let port =
                u16::try_from(port).map_err(|_| DecodeError::OutOfRange { field: "port" })?;
            if port == 0 && !implied_port {
                return Err(DecodeError::Missing { field: "port" });
            }
            Query::AnnouncePeer {
                id,
                info_hash: node_id(a, "info_hash")?,
                port,
                implied_port,
                token: short_bytes(a, "token")?.ok_or(DecodeError::Missing { field: "token" })?,
            }
        }
        b"get" => Query::Get {
            id,
            target: node_id(a, "target")?,
            seq: int(a, "seq")?,
            want: parse_want(a),
        },
        b"put" => Query::Put {
            id,
            token: short_bytes(a, "token")?.ok_or(DecodeError::Missing { field: "token" })?,
            item: PutItem {
                value: item_value(a)?.ok_or(DecodeError::Missing { field: "v" })?,
                key: fixed::<32>(a, "k")?,
                signature: fixed::<64>(a, "sig")?,
                seq: int(a, "seq")?,
                cas: int(a, "cas")?,
                salt: short_bytes(a, "salt")?,
            },
        },
        b"sample_infohashes" => Query::SampleInfohashes {
            id,
            target: node_id(a, "target")?,
            want: parse_want(a),
        },
        _ => {
            return Err(DecodeError::UnknownMethod {
                transaction_id: t.to_vec(),
            });
        }
    })
}

fn parse_response(r: &Dict<'_>) -> Result<Response, DecodeError> {
    let values = match r.get("values") {
        None => Vec::new(),
        Some(v) => {
            let list = v.as_list().ok_or(DecodeError::WrongType {
                field: "values",
                expected: "a list",
            })?;
            list.iter()
                .take(MAX_VALUES)
                .filter_map(|p| p.as_bytes().and_then(parse_compact_addr))
                .collect()
        }
    };
    let samples = match bytes(r, "samples")? {
        None => None,
        Some(b) if b.len() % 20 != 0 => {
            return Err(DecodeError::BadLength {
                field: "samples",
                len: b.len(),
            });
        }
        Some(b) => Some(
            b.chunks_exact(20)
                .take(MAX_SAMPLES)
                .filter_map(NodeId::from_slice)
                .collect(),
        ),
    };
    Ok(Response {
        id: node_id(r, "id")?,
        nodes: parse_nodes(r, "nodes", 6)?,
        nodes6: parse_nodes(r, "nodes6", 18)?,
        values,
        token: short_bytes(r, "token")?,
        samples,
        interval: int(r, "interval")?,
        num: int(r, "num")?,
        value: item_value(r)?,
        key: fixed::<32>(r, "k")?,
        signature: fixed::<64>(r, "sig")?,
        seq: int(r, "seq")?,
    })
}

impl Message {
    /// Decodes one datagram. Unknown keys are ignored, as BEP 5 asks, and
    /// dictionaries with keys out of order are accepted.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong { len: input.len() });
        }
        let value = options().decode(input)?.value;
        let Kind::Dict(top) = value.kind() else {
            return Err(DecodeError::NotADict);
        };
        let t = req_bytes(top, "t")?;
        if t.len() > MAX_SHORT_BYTES {
            return Err(DecodeError::BadLength {
                field: "t",
                len: t.len(),
            });
        }
        let version = short_bytes(top, "v")?;
        let ip = bytes(top, "ip")?.and_then(parse_compact_addr);
        let read_only = int(top, "ro")?.unwrap_or(0) == 1;
        let body = match req_bytes(top, "y")? {
            b"q" => {
                let method = req_bytes(top, "q")?;
                let a = top
                    .get("a")
                    .ok_or(DecodeError::Missing { field: "a" })?
                    .as_dict()
                    .ok_or(DecodeError::WrongType {
                        field: "a",
                        expected: "a dictionary",
                    })?;
                Body::Query(parse_query(method, a, t)?)
            }
            b"r" => {
                let r = top
                    .get("r")
                    .ok_or(DecodeError::Missing { field: "r" })?
                    .as_dict()
                    .ok_or(DecodeError::WrongType {
                        field: "r",
                        expected: "a dictionary",
                    })?;
                Body::Response(parse_response(r)?)
            }
            b"e" => {
                let list = top
                    .get("e")
                    .and_then(Value::as_list)
                    .ok_or(DecodeError::WrongType {
                        field: "e",
                        expected: "a list",
                    })?;
                let code = list.first().and_then(Value::as_int).unwrap_or(201);
                let message = list
                    .get(1)
                    .and_then(Value::as_bytes)
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned())
                    .unwrap_or_default();
                Body::Error { code, message }
            }
            _ => return Err(DecodeError::UnknownType),
        };
        Ok(Self {
            transaction_id: t.to_vec(),
            version,
            ip,
            read_only,
            body,
        })
    }
}

/// The transaction id of a query that failed to decode, so that an error
/// reply (BEP 5 code 203 or 204) can be sent; `None` when the datagram is not
/// a query at all.
pub fn query_transaction_id(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() > MAX_MESSAGE_LEN {
        return None;
    }
    let value = options().decode(input).ok()?.value;
    if value.get("y")?.as_bytes()? != b"q" {
        return None;
    }
    let t = value.get("t")?.as_bytes()?;
    (t.len() <= MAX_SHORT_BYTES).then(|| t.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(b: u8) -> NodeId {
        NodeId([b; 20])
    }

    #[test]
    fn bep5_ping_example_decodes() {
        let m =
            Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").unwrap();
        assert_eq!(m.transaction_id, b"aa");
        assert_eq!(
            m.body,
            Body::Query(Query::Ping {
                id: NodeId(*b"abcdefghij0123456789")
            })
        );
        // And it re-encodes to the same bytes.
        assert_eq!(
            m.to_bytes(),
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
        );
    }

    #[test]
    fn bep5_error_example() {
        let m = Message::decode(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee").unwrap();
        assert_eq!(
            m.body,
            Body::Error {
                code: 201,
                message: "A Generic Error Ocurred".into()
            }
        );
        assert_eq!(
            m.to_bytes(),
            b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"
        );
    }

    #[test]
    fn unknown_method_is_204_with_the_transaction_id() {
        let e = Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:zzzz1:t2:xy1:y1:qe")
            .unwrap_err();
        assert_eq!(e.krpc_code(), 204);
        assert_eq!(
            e,
            DecodeError::UnknownMethod {
                transaction_id: b"xy".to_vec()
            }
        );
    }

    #[test]
    fn typed_errors_name_the_field() {
        let e = Message::decode(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe").unwrap_err();
        assert_eq!(
            e,
            DecodeError::BadLength {
                field: "id",
                len: 3
            }
        );
        assert_eq!(e.krpc_code(), 203);
        let e = Message::decode(b"d1:q4:ping1:t2:aa1:y1:qe").unwrap_err();
        assert_eq!(e, DecodeError::Missing { field: "a" });
        let e = Message::decode(b"li1ee").unwrap_err();
        assert_eq!(e, DecodeError::NotADict);
        let long = vec![b'x'; MAX_MESSAGE_LEN + 1];
        assert_eq!(
            Message::decode(&long).unwrap_err(),
            DecodeError::TooLong {
                len: MAX_MESSAGE_LEN + 1
            }
        );
    }

    #[test]
    fn node_lists_are_capped() {
        let many: Vec<CompactNode> = (0..200u16)
            .map(|i| CompactNode {
                id: id(i as u8),
                addr: SocketAddr::from(([10, 0, 0, 1], i)),
            })
            .collect();
        let m = Message {
            transaction_id: b"t".to_vec(),
            version: None,
            ip: None,
            read_only: false,
            body: Body::Response(Response {
                nodes: many,
                ..Response::new(id(1))
            }),
        };
        let d = Message::decode(&m.to_bytes()).unwrap();
        let Body::Response(r) = d.body else { panic!() };
        assert_eq!(r.nodes.len(), MAX_NODES);
    }

    fn arb_id() -> impl Strategy<Value = NodeId> {
        any::<[u8; 20]>().prop_map(NodeId)
    }

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
        ]
    }

    fn arb_want() -> impl Strategy<Value = Want> {
        (any::<bool>(), any::<bool>()).prop_map(|(v4, v6)| Want { v4, v6 })
    }

    fn arb_short() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..=MAX_SHORT_BYTES)
    }

    fn arb_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_bencode()),
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| b.to_bencode()),
        ]
    }

    fn arb_query() -> impl Strategy<Value = Query> {
        prop_oneof![
            arb_id().prop_map(|id| Query::Ping { id }),
            (arb_id(), arb_id(), arb_want()).prop_map(|(id, target, want)| Query::FindNode {
                id,
                target,
                want
            }),
            (arb_id(), arb_id(), arb_want()).prop_map(|(id, info_hash, want)| Query::GetPeers {
                id,
                info_hash,
                want
            }),
            (arb_id(), arb_id(), 1u16.., any::<bool>(), arb_short()).prop_map(
                |(id, info_hash, port, implied_port, token)| Query::AnnouncePeer {
                    id,
                    info_hash,
                    port,
                    implied_port,
                    token
                }
            ),
            (
                arb_id(),
                arb_id(),
                proptest::option::of(any::<i64>()),
                arb_want()
            )
                .prop_map(|(id, target, seq, want)| Query::Get {
                    id,
                    target,
                    seq,
                    want
                }),
            (
                arb_id(),
                arb_short(),
                arb_value(),
                proptest::option::of(any::<[u8; 32]>()),
                proptest::option::of((any::<[u8; 32]>(), any::<[u8; 32]>())),
                proptest::option::of(any::<i64>()),
                proptest::option::of(any::<i64>()),
                proptest::option::of(arb_short()),
            )
                .prop_map(|(id, token, value, key, sig, seq, cas, salt)| Query::Put {
                    id,
                    token,
                    item: PutItem {
                        value,
                        key,
                        signature: sig.map(|(a, b)| {
                            let mut s = [0u8; 64];
                            s[..32].copy_from_slice(&a);
                            s[32..].copy_from_slice(&b);
                            s
                        }),
                        seq,
                        cas,
                        salt
                    }
                }),
            (arb_id(), arb_id(), arb_want())
                .prop_map(|(id, target, want)| { Query::SampleInfohashes { id, target, want } }),
        ]
    }

    fn arb_nodes() -> impl Strategy<Value = (Vec<CompactNode>, Vec<CompactNode>)> {
        (
            proptest::collection::vec(
                (arb_id(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(id, a, p)| CompactNode {
                    id,
                    addr: (a, p).into(),
                }),
                0..10,
            ),
            proptest::collection::vec(
                (arb_id(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(id, a, p)| CompactNode {
                    id,
                    addr: (a, p).into(),
                }),
                0..10,
            ),
        )
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        (
            arb_id(),
            arb_nodes(),
            proptest::collection::vec(arb_addr(), 0..20),
            proptest::option::of(arb_short()),
            proptest::option::of(proptest::collection::vec(arb_id(), 0..10)),
            proptest::option::of(any::<i64>()),
            proptest::option::of(arb_value()),
            proptest::option::of(any::<[u8; 32]>()),
        )
            .prop_map(
                |(id, (nodes, nodes6), values, token, samples, seq, value, key)| Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token,
                    num: samples.as_ref().map(|s| s.len() as i64),
                    interval: samples.as_ref().map(|_| 60),
                    samples,
                    value,
                    key,
                    signature: key.map(|_| [7u8; 64]),
                    seq,
                },
            )
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let body = prop_oneof![
            arb_query().prop_map(Body::Query),
            arb_response().prop_map(Body::Response),
            (201i64..=204, "[a-z ]{0,30}")
                .prop_map(|(code, message)| Body::Error { code, message }),
        ];
        (
            proptest::collection::vec(any::<u8>(), 1..8),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 4)),
            proptest::option::of(arb_addr()),
            any::<bool>(),
            body,
        )
            .prop_map(|(transaction_id, version, ip, read_only, body)| Message {
                transaction_id,
                version,
                ip,
                read_only,
                body,
            })
    }

    proptest! {
        #[test]
        fn every_message_round_trips(m in arb_message()) {
            let bytes = m.to_bytes();
            // Our encoding is canonical bencode: the strict decoder takes it.
            prop_assert!(bitswarm_bencode::decode(&bytes).is_ok());
            prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::decode(&b);
            let _ = query_transaction_id(&b);
        }

        #[test]
        fn mutated_messages_never_panic(m in arb_message(), at: usize, byte: u8) {
            let mut bytes = m.to_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = Message::decode(&bytes);
            bytes.truncate(i);
            let _ = Message::decode(&bytes);
        }
    }
}
