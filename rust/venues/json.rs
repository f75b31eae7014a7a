//! JSON reading for the adapters: `serde_json` into borrowed structs, with one change — a
//! struct is read only from a JSON object.
//!
//! Serde's derived structs also accept an array and match its items to the fields by position,
//! so `["BNBBTC",12345,"0.001","100",1672515782136,true]` would read as a trade. No venue sends
//! such shapes; taking one would turn garbage into an event. [`from_str`] wraps the
//! deserializer so that at every depth a struct is asked for as a map, and an array there is
//! an "invalid type" error. Everything else is `serde_json` unchanged (borrowed strings,
//! `RawValue`, numbers).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Reads `text` as a `T`, structs from objects only.
///
/// # Errors
///
/// `serde_json`'s message: a syntax error, a missing field, a wrong type (an array for an
/// object among them), trailing characters.
pub fn from_str<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Strict(&mut deserializer)).map_err(|error| error.to_string())?;
    deserializer.end().map_err(|error| error.to_string())?;
    Ok(value)
}

/// [`from_str`] for bytes: UTF-8 is validated once for the whole message (SIMD), so
/// `serde_json` does not check each borrowed string again.
///
/// # Errors
///
/// As [`from_str`], and for bytes that are not UTF-8.
pub fn from_slice<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, String> {
    let text = simdutf8::basic::from_utf8(raw).map_err(|_| "the message is not UTF-8".to_owned())?;
    from_str(text)
}

/// A deserializer that reads structs as maps only, and wraps whatever it hands on.
struct Strict<D>(D);

/// A visitor whose nested deserializers, maps and sequences are wrapped in turn.
struct StrictVisitor<V>(V);

/// A seed (a field's or an item's type) that deserializes through [`Strict`].
struct StrictSeed<S>(S);

struct StrictMap<M>(M);

struct StrictSeq<S>(S);

macro_rules! forward_wrapped {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.0.$method(StrictVisitor(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_wrapped! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq
        deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(StrictVisitor(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // `RawValue` is a newtype the JSON deserializer recognises by name: hand it over as is.
        self.0.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, StrictVisitor(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, StrictVisitor(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, StrictVisitor(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrictVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.0.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.0.visit_i64(v)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.0.visit_i128(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.0.visit_u64(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        self.0.visit_u128(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.0.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.0.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.0.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.0.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        self.0.visit_bytes(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        self.0.visit_borrowed_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Strict(deserializer))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit()
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(StrictMap(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for StrictMap<M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        self.0.next_key_seed(StrictSeed(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        self.0.next_value_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, S: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<S> {
    type Error = S::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::from_str;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner<'a> {
        p: &'a str,
        n: u64,
    }

    #[derive(Debug, Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        inner: Inner<'a>,
        #[serde(borrow)]
        list: Vec<Inner<'a>>,
        #[serde(borrow)]
        maybe: Option<Inner<'a>>,
        #[serde(borrow)]
        raw: &'a RawValue,
    }

    #[test]
    fn objects_read_as_with_serde_json() {
        let text = r#"{"inner":{"p":"1.5","n":2},"list":[{"p":"x","n":1}],"maybe":{"p":"y","n":3},"raw":[1, {"a":2}]}"#;
        let outer: Outer = from_str(text).unwrap();
        assert_eq!(outer.inner, Inner { p: "1.5", n: 2 });
        assert_eq!(outer.list, [Inner { p: "x", n: 1 }]);
        assert_eq!(outer.maybe, Some(Inner { p: "y", n: 3 }));
        assert_eq!(outer.raw.get(), r#"[1, {"a":2}]"#);
        let plain: Outer = serde_json::from_str(text).unwrap();
        assert_eq!(plain.inner, outer.inner);
    }

    #[test]
    fn arrays_are_refused_where_structs_are_expected_at_any_depth() {
        for text in [
            r#"[{"p":"1","n":2},[],null,1]"#,
            r#"{"inner":["1",2],"list":[],"maybe":null,"raw":1}"#,
            r#"{"inner":{"p":"1","n":2},"list":[["x",1]],"maybe":null,"raw":1}"#,
            r#"{"inner":{"p":"1","n":2},"list":[],"maybe":["y",3],"raw":1}"#,
        ] {
            assert!(serde_json::from_str::<Outer>(text).is_ok() || text.starts_with('['), "{text}");
            let error = from_str::<Outer>(text).unwrap_err();
            assert!(error.contains("invalid type"), "{text}: {error}");
        }
    }

    #[test]
    fn trailing_characters_and_bad_utf8_are_errors() {
        assert!(from_str::<Inner>(r#"{"p":"1","n":2} x"#).is_err());
        assert!(super::from_slice::<Inner>(b"{\"p\":\"\xff\",\"n\":2}").is_err());
    }
}
