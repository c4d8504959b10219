//! The extension protocol (BEP 10) and the extended messages this crate
//! knows: ut_metadata (BEP 9), ut_pex (BEP 11), lt_donthave (BEP 54) and
//! upload_only (BEP 21).

mod donthave;
mod handshake;
mod pex;
mod upload_only;
mod ut_metadata;

use bitswarm_bencode::{DecodeOptions, Mode, Value};
use bytes::Bytes;

use crate::{Error, Message};

pub use donthave::DontHave;
pub use handshake::{ExtensionHandshake, MAX_METADATA_SIZE};
pub use pex::{PexFlags, UtPex};
pub use upload_only::UploadOnly;
pub use ut_metadata::{METADATA_PIECE_SIZE, UtMetadata};

/// Names of the extended messages in the `m` dictionary.
pub mod names {
    /// BEP 9.
    pub const UT_METADATA: &str = "ut_metadata";
    /// BEP 11.
    pub const UT_PEX: &str = "ut_pex";
    /// BEP 54.
    pub const LT_DONTHAVE: &str = "lt_donthave";
    /// BEP 21.
    pub const UPLOAD_ONLY: &str = "upload_only";
}

/// The extended message ids one side assigned in its extension handshake;
/// 0 means "not supported" (BEP 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionIds {
    /// BEP 9.
    pub ut_metadata: u8,
    /// BEP 11.
    pub ut_pex: u8,
    /// BEP 54.
    pub lt_donthave: u8,
    /// BEP 21.
    pub upload_only: u8,
}

impl ExtensionIds {
    /// The ids bitswarm assigns to the messages it receives.
    pub const OURS: Self = Self {
        ut_metadata: 1,
        ut_pex: 2,
        lt_donthave: 3,
        upload_only: 4,
    };

    /// The ids a peer announced in its handshake.
    pub fn from_handshake(hs: &ExtensionHandshake) -> Self {
        let id = |name: &str| hs.m.get(name).copied().unwrap_or(0);
        Self {
            ut_metadata: id(names::UT_METADATA),
            ut_pex: id(names::UT_PEX),
            lt_donthave: id(names::LT_DONTHAVE),
            upload_only: id(names::UPLOAD_ONLY),
        }
    }

    /// The `m` entries for these ids.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, u8)> {
        [
            (names::UT_METADATA, self.ut_metadata),
            (names::UT_PEX, self.ut_pex),
            (names::LT_DONTHAVE, self.lt_donthave),
            (names::UPLOAD_ONLY, self.upload_only),
        ]
        .into_iter()
        .filter(|(_, id)| *id != 0)
    }
}

/// A typed extended message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtendedMessage {
    /// Extended id 0.
    Handshake(ExtensionHandshake),
    /// BEP 9.
    UtMetadata(UtMetadata),
    /// BEP 11.
    UtPex(UtPex),
    /// BEP 54.
    DontHave(DontHave),
    /// BEP 21.
    UploadOnly(UploadOnly),
    /// An id we did not assign; passed on untouched.
    Unknown {
        /// The id.
        id: u8,
        /// The payload.
        payload: Bytes,
    },
}

impl ExtendedMessage {
    /// Reads an extended message sent to us: `ours` are the ids we announced.
    pub fn decode(id: u8, payload: Bytes, ours: &ExtensionIds) -> Result<Self, Error> {
        Ok(match id {
            0 => Self::Handshake(ExtensionHandshake::decode(&payload)?),
            _ if id == ours.ut_metadata => Self::UtMetadata(UtMetadata::decode(payload)?),
            _ if id == ours.ut_pex => Self::UtPex(UtPex::decode(&payload)?),
            _ if id == ours.lt_donthave => Self::DontHave(DontHave::decode(&payload)?),
            _ if id == ours.upload_only => Self::UploadOnly(UploadOnly::decode(&payload)?),
            _ => Self::Unknown { id, payload },
        })
    }

    /// The wire message to send to a peer that announced `theirs`; `None`
    /// when it does not support this extension.
    pub fn to_message(&self, theirs: &ExtensionIds) -> Option<Message> {
        let (id, payload) = match self {
            Self::Handshake(h) => (0, h.to_bytes()),
            Self::UtMetadata(m) => (theirs.ut_metadata, m.to_bytes()),
            Self::UtPex(p) => (theirs.ut_pex, p.to_bytes()),
            Self::DontHave(d) => (theirs.lt_donthave, d.to_bytes()),
            Self::UploadOnly(u) => (theirs.upload_only, u.to_bytes()),
            Self::Unknown { id, payload } => (*id, payload.clone()),
        };
        (id != 0 || matches!(self, Self::Handshake(_))).then_some(Message::Extended { id, payload })
    }
}

/// Decodes a bencoded payload, tolerating unsorted keys (real clients send them).
pub(crate) fn decode_dict<'a>(
    message: &'static str,
    payload: &'a [u8],
) -> Result<Value<'a>, Error> {
    let options = DecodeOptions {
        mode: Mode::Lenient,
        ..DecodeOptions::default()
    };
    let value = options
        .decode(payload)
        .map_err(|source| Error::Bencode { message, source })?
        .value;
    if value.as_dict().is_none() {
        return Err(Error::Field {
            message,
            field: "(top level)",
            problem: "is not a dictionary",
        });
    }
    Ok(value)
}

/// An optional integer field within `range`.
pub(crate) fn int_field(
    message: &'static str,
    dict: &Value<'_>,
    field: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Error> {
    match dict.get(field) {
        None => Ok(None),
        Some(v) => match v.as_int() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            Some(_) => Err(Error::Field {
                message,
                field,
                problem: "is out of range",
            }),
            None => Err(Error::Field {
                message,
                field,
                problem: "is not an integer",
            }),
        },
    }
}

#[cfg(test)]
mod tests;
