use ::serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use ::serde::forward_to_deserialize_any;

use crate::{Error, Kind, Value};

/// Reads a decoded [`Value`] tree; byte strings are lent out with the input's lifetime.
pub(super) struct Deserializer<'v, 'de> {
    value: &'v Value<'de>,
}

impl<'v, 'de> Deserializer<'v, 'de> {
    pub(super) fn new(value: &'v Value<'de>) -> Self {
        Self { value }
    }

    fn wrong(&self, expected: &'static str) -> Error {
        Error::WrongType {
            expected,
            found: self.value.type_name(),
        }
    }
}

impl<'de> de::Deserializer<'de> for Deserializer<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value.kind() {
            Kind::Int(i) => visitor.visit_i64(*i),
            Kind::Bytes(b) => match core::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            Kind::List(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            Kind::Dict(d) => visitor.visit_map(MapAccess {
                entries: d.entries().iter(),
                value: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value.as_int() {
            Some(0) => visitor.visit_bool(false),
            Some(1) => visitor.visit_bool(true),
            _ => Err(self.wrong("integer 0 or 1")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let bytes = self
            .value
            .as_bytes()
            .ok_or_else(|| self.wrong("byte string"))?;
        let s = core::str::from_utf8(bytes).map_err(|_| self.wrong("UTF-8 byte string"))?;
        visitor.visit_borrowed_str(s)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value.kind() {
            Kind::Bytes(b) => visitor.visit_borrowed_bytes(b),
            // `Vec<u8>` without serde_bytes asks for bytes but accepts a list.
            Kind::List(_) => self.deserialize_any(visitor),
            _ => Err(self.wrong("byte string")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Absent keys become `None` through serde's missing-field handling.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value.kind() {
            Kind::Bytes(_) => {
                let name = self
                    .value
                    .as_str()
                    .ok_or_else(|| self.wrong("UTF-8 variant name"))?;
                visitor.visit_enum(name.into_deserializer())
            }
            Kind::Dict(d) if d.len() == 1 => {
                let (key, value) = &d.entries()[0];
                let name =
                    core::str::from_utf8(key).map_err(|_| self.wrong("UTF-8 variant name"))?;
                visitor.visit_enum(EnumAccess { name, value })
            }
            _ => Err(self.wrong("variant name or single-key dictionary")),
        }
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        unit unit_struct seq tuple tuple_struct map struct ignored_any
    }
}

struct SeqAccess<'v, 'de> {
    items: core::slice::Iter<'v, Value<'de>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.items
            .next()
            .map(|v| seed.deserialize(Deserializer::new(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'v, 'de> {
    entries: core::slice::Iter<'v, (&'de [u8], Value<'de>)>,
    value: Option<&'v Value<'de>>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(KeyDeserializer { key }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| Error::Custom("map value requested before its key".into()))?;
        seed.deserialize(Deserializer::new(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A dictionary key: a byte string, offered as `str` when it is UTF-8.
struct KeyDeserializer<'de> {
    key: &'de [u8],
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match core::str::from_utf8(self.key) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.key),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.key)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.key)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

struct EnumAccess<'v, 'de> {
    name: &'de str,
    value: &'v Value<'de>,
}

impl<'v, 'de> de::EnumAccess<'de> for EnumAccess<'v, 'de> {
    type Error = Error;
    type Variant = Deserializer<'v, 'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let variant = seed.deserialize(self.name.into_deserializer())?;
        Ok((variant, Deserializer::new(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for Deserializer<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Err(self.wrong("unit variant written as its name"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}
