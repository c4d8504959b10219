use ::serde::ser::{self, Impossible, Serialize};

use crate::Error;
use crate::encode::{put_bytes, put_int};

/// Writes canonical bencode into a `Vec<u8>`. Dictionaries are buffered per
/// entry and sorted by key before they are written.
pub(super) struct Serializer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Serializer<'o> {
    pub(super) fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out }
    }
}

fn encode_to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    value.serialize(Serializer::new(&mut out))?;
    Ok(out)
}

fn int_from<T: TryInto<i64>>(n: T) -> Result<i64, Error> {
    n.try_into()
        .map_err(|_| Error::Unsupported("an integer outside i64"))
}

impl<'o> ser::Serializer for Serializer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqSerializer<'o>;
    type SerializeTuple = SeqSerializer<'o>;
    type SerializeTupleStruct = SeqSerializer<'o>;
    type SerializeTupleVariant = SeqSerializer<'o>;
    type SerializeMap = MapSerializer<'o>;
    type SerializeStruct = MapSerializer<'o>;
    type SerializeStructVariant = MapSerializer<'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        put_int(self.out, i64::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        put_int(self.out, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.serialize_i64(int_from(v)?)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.serialize_i64(int_from(v)?)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.serialize_i64(int_from(v)?)
    }

    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(Error::Unsupported("a floating-point number"))
    }

    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(Error::Unsupported("a floating-point number"))
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        put_bytes(self.out, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        put_bytes(self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        // Nothing: the enclosing dictionary leaves the entry out.
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error::Unsupported("a unit value"))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error::Unsupported("a unit struct"))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'd');
        put_bytes(self.out, variant.as_bytes());
        value.serialize(Serializer::new(self.out))?;
        self.out.push(b'e');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqSerializer<'o>, Error> {
        self.out.push(b'l');
        Ok(SeqSerializer {
            out: self.out,
            variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqSerializer<'o>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqSerializer<'o>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<SeqSerializer<'o>, Error> {
        self.out.push(b'd');
        put_bytes(self.out, variant.as_bytes());
        self.out.push(b'l');
        Ok(SeqSerializer {
            out: self.out,
            variant: true,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapSerializer<'o>, Error> {
        Ok(MapSerializer::new(self.out, None))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapSerializer<'o>, Error> {
        Ok(MapSerializer::new(self.out, None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapSerializer<'o>, Error> {
        Ok(MapSerializer::new(self.out, Some(variant)))
    }
}

/// Lists, tuples and tuple variants.
pub(super) struct SeqSerializer<'o> {
    out: &'o mut Vec<u8>,
    /// Inside `{variant: [..]}`: one more `e` to close.
    variant: bool,
}

impl SeqSerializer<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let before = self.out.len();
        value.serialize(Serializer::new(self.out))?;
        if self.out.len() == before {
            return Err(Error::Unsupported("None inside a list"));
        }
        Ok(())
    }

    fn finish(self) -> Result<(), Error> {
        self.out.push(b'e');
        if self.variant {
            self.out.push(b'e');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for SeqSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Maps, structs and struct variants: entries are encoded apart, then
/// written sorted by key.
pub(super) struct MapSerializer<'o> {
    out: &'o mut Vec<u8>,
    variant: Option<&'static str>,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    key: Option<Vec<u8>>,
}

impl<'o> MapSerializer<'o> {
    fn new(out: &'o mut Vec<u8>, variant: Option<&'static str>) -> Self {
        Self {
            out,
            variant,
            entries: Vec::new(),
            key: None,
        }
    }

    fn entry(&mut self, key: Vec<u8>, value: Vec<u8>) {
        // An empty encoding is a `None`: leave the entry out.
        if !value.is_empty() {
            self.entries.push((key, value));
        }
    }

    fn finish(mut self) -> Result<(), Error> {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if self.entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::Custom("duplicate dictionary key".into()));
        }
        if let Some(variant) = self.variant {
            self.out.push(b'd');
            put_bytes(self.out, variant.as_bytes());
        }
        self.out.push(b'd');
        for (k, v) in &self.entries {
            put_bytes(self.out, k);
            self.out.extend_from_slice(v);
        }
        self.out.push(b'e');
        if self.variant.is_some() {
            self.out.push(b'e');
        }
        Ok(())
    }
}

impl ser::SerializeMap for MapSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let mut k = Vec::new();
        key.serialize(KeySerializer { out: &mut k })?;
        self.key = Some(k);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::Custom("map value serialized before its key".into()))?;
        let value = encode_to_vec(value)?;
        self.entry(key, value);
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for MapSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let value = encode_to_vec(value)?;
        self.entry(key.as_bytes().to_vec(), value);
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapSerializer<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Dictionary keys: strings, chars and byte strings only.
struct KeySerializer<'k> {
    out: &'k mut Vec<u8>,
}

const NON_STRING_KEY: Error = Error::Unsupported("a dictionary key that is not a string");

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_bool(self, _v: bool) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_i8(self, _v: i8) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_i16(self, _v: i16) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_i32(self, _v: i32) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_i64(self, _v: i64) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_u8(self, _v: u8) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_u16(self, _v: u16) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_u32(self, _v: u32) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_u64(self, _v: u64) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(NON_STRING_KEY)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(NON_STRING_KEY)
    }
}
