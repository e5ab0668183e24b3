//! Deserializers that never fail on a value's shape.
//!
//! Mailgun's payloads vary: numbers arrive as strings and strings as numbers, objects are
//! `null`, and lists are missing. A correctly signed delivery must never be rejected because of
//! that, so every event field goes through one of these: a value of the expected shape is kept,
//! a convertible one is converted, and anything else becomes "absent" (it is skipped, never an
//! error). Only malformed JSON itself is an error.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods that make a value "absent": null, and the shapes listed.
macro_rules! absent {
    (unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
    (bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (num) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok(Default::default())
        }
    };
    (map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok(Default::default())
        }
    };
    ($($shape:ident),+) => { $(absent!($shape);)+ };
}

// ----- strings -----

struct StringV;

impl<'de> Visitor<'de> for StringV {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    absent!(unit, seq, map);
}

/// A string; numbers and booleans become their text; anything else is absent.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StringV)
}

/// A string that is kept lowercased (event names, methods).
pub(crate) fn lowercase<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(string(d)?.map(|mut s| {
        s.make_ascii_lowercase();
        s
    }))
}

/// A newtype so a lenient string can be an element of a list.
struct LenientString(Option<String>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d).map(LenientString)
    }
}

struct StringListV;

impl<'de> Visitor<'de> for StringListV {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(LenientString(s)) = seq.next_element()? {
            out.extend(s);
        }
        Ok(out)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(vec![v.to_owned()])
    }
    absent!(unit, bool, num, map);
}

/// A list of strings; a lone string is a list of one; non-string elements become text or are
/// skipped.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringListV)
}

// ----- numbers and booleans -----

struct U64V;

impl<'de> Visitor<'de> for U64V {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Only exact, in-range integers written as floats (`12.0`).
        let ok = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 18_446_744_073_709_551_616.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(ok.then_some(v as u64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse().ok())
    }
    absent!(unit, bool, seq, map);
}

/// A non-negative integer, from a number or a numeric string.
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(U64V)
}

struct F64V;

impl<'de> Visitor<'de> for F64V {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse().ok().filter(|f: &f64| f.is_finite()))
    }
    absent!(unit, bool, seq, map);
}

/// A number, from a number or a numeric string.
pub(crate) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(F64V)
}

struct BoolV;

impl<'de> Visitor<'de> for BoolV {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match v {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(parse_bool(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    absent!(unit, seq, map);
}

/// `true`/`false`/`yes`/`no`/`1`/`0`, any case.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") || v == "1" {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no") || v == "0" {
        Some(false)
    } else {
        None
    }
}

/// A boolean, from `true`/`false`, `0`/`1`, or those words as strings.
pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolV)
}

// ----- objects and lists of objects -----

struct ObjectV<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectV<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
    absent!(unit, bool, num, str, seq);
}

/// An object of lenient fields; any other shape is absent.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    d.deserialize_any(ObjectV(PhantomData))
}

struct LenientObject<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LenientObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object(d).map(LenientObject)
    }
}

struct ObjectListV<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectListV<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(LenientObject(o)) = seq.next_element()? {
            out.extend(o);
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| vec![t])
    }
    absent!(unit, bool, num, str);
}

/// A list of objects; a lone object is a list of one; other elements are skipped.
pub(crate) fn object_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_any(ObjectListV(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "string")]
        s: Option<String>,
        #[serde(deserialize_with = "u64")]
        n: Option<u64>,
        #[serde(deserialize_with = "bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "string_list")]
        l: Vec<String>,
        #[serde(deserialize_with = "object")]
        o: Option<Inner>,
    }

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "string")]
        x: Option<String>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_shape_is_accepted() {
        let shapes = [
            "null",
            "true",
            "0",
            "-1",
            "1.5",
            "\"s\"",
            "[]",
            "[1,[2]]",
            "{}",
            "{\"a\":[{}]}",
        ];
        for v in shapes {
            let json = format!(r#"{{"s":{v},"n":{v},"b":{v},"l":{v},"o":{v}}}"#);
            let _ = probe(&json);
        }
    }

    #[test]
    fn conversions() {
        let p = probe(r#"{"s":12,"n":"42","b":"Yes","l":"solo","o":{"x":null}}"#);
        assert_eq!(p.s.as_deref(), Some("12"));
        assert_eq!(p.n, Some(42));
        assert_eq!(p.b, Some(true));
        assert_eq!(p.l, ["solo"]);
        assert!(p.o.is_some_and(|o| o.x.is_none()));
        let p = probe(r#"{"n":12.0,"l":["a",1,null,{}],"o":"nope"}"#);
        assert_eq!(p.n, Some(12));
        assert_eq!(p.l, ["a", "1"]);
        assert!(p.o.is_none());
    }
}
