//! Artefact and claim ids as producers write them.
//!
//! The Go client checks an artefact id with its UUID library's `Parse` and then
//! uses the string **as written**: the hash key, the index key, the claim's
//! `artefact_id` and the events all carry the producer's spelling, and agents
//! look claims up by that same string. So we accept exactly the forms that
//! parser documents and never normalise:
//!
//! - `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in any letter case;
//! - the same wrapped in braces, `{…}` (Microsoft style);
//! - the same after `urn:uuid:` (prefix in any letter case);
//! - 32 hex digits without dashes, any letter case.
//!
//! Go's parser only looks at the middle 36 bytes of a 38-byte string; we
//! insist that they are wrapped in `{` and `}`, so a key is never built from
//! other outer bytes (`*`, spaces, control characters). Everything else is
//! refused, and no key is ever built from a refused id.

use std::fmt;

mod random;
pub use random::new_v4;

/// The longest accepted form: `urn:uuid:` + 36.
pub const MAX_ID_LEN: usize = 45;

/// Bytes an id is stored in: [`MAX_ID_LEN`] rounded up to whole words, so
/// ids compare and hash a word at a time.
const STORED: usize = 48;
const WORDS: usize = STORED / 8;

/// An id in one of the accepted forms, stored inline (no allocation on the
/// event path). Only ASCII is ever stored (checked by [`parse_bytes`]), and
/// the bytes after the id are zero.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Text {
    bytes: [u8; STORED],
    len: u8,
}

impl Text {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }

    fn of_uuid(id: uuid::Uuid) -> Text {
        let mut bytes = [0u8; STORED];
        bytes[..36].copy_from_slice(&hyphenated(&id));
        Text { len: 36, bytes }
    }

    fn words(&self) -> [u64; WORDS] {
        std::array::from_fn(|i| {
            u64::from_ne_bytes(self.bytes[8 * i..8 * i + 8].try_into().unwrap_or_default())
        })
    }
}

/// Equal when the bytes are (a word at a time: the derived comparison
/// called `memcmp` over 45 bytes, which musl does a byte at a time).
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        let (a, b) = (self.words(), other.words());
        self.len == other.len && a.iter().zip(&b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
    }
}

impl Eq for Text {}

/// Hashes one word folded from the id's words: the hasher (SipHash in the
/// lifecycle's `deciding` set) then reads 8 bytes instead of 54.
impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let folded = self.words().iter().fold(u64::from(self.len), |h, &w| {
            (h.rotate_left(26) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        });
        state.write_u64(folded);
    }
}

/// Two kinds of id share the forms and the storage but are never mixed up:
/// an artefact's id and a claim's id.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(Text);

        impl $name {
            /// The id exactly as it was written.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// Accepts one of the forms in the module documentation.
            pub fn parse(s: &str) -> Option<$name> {
                Self::parse_bytes(s.as_bytes())
            }

            /// [`Self::parse`] on bytes (keys found by SCAN are bytes).
            pub fn parse_bytes(b: &[u8]) -> Option<$name> {
                checked(b).map($name)
            }
        }

        impl From<uuid::Uuid> for $name {
            /// The canonical lower-case form (what Sett's own programs write).
            fn from(id: uuid::Uuid) -> $name {
                $name(Text::of_uuid(id))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl IdText for $name {
            fn push_to(&self, out: &mut String) {
                out.push_str(self.as_str());
            }
        }
    };
}

id_type!(
    /// A validated artefact id, as the producer wrote it.
    ArtefactId
);
id_type!(
    /// A claim id: one we minted (canonical v4), or one read from Redis or an
    /// event and checked, so it can be part of a key.
    ClaimId
);

/// An id that can be written into a key: one we generated, or one we checked.
pub trait IdText {
    fn push_to(&self, out: &mut String);
}

impl IdText for uuid::Uuid {
    fn push_to(&self, out: &mut String) {
        push_uuid(out, self);
    }
}

impl IdText for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// Appends the canonical text of `id` (without the formatting machinery: this is per claim).
pub fn push_uuid(out: &mut String, id: &uuid::Uuid) {
    out.push_str(std::str::from_utf8(&hyphenated(id)).unwrap_or_default());
}

/// The canonical text of `id` (lower-case hex, hyphenated, as the uuid
/// crate writes it: a test holds the two together), from a table: the
/// crate's encoder cost ~900 instructions an id, two or three a claim.
fn hyphenated(id: &uuid::Uuid) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, b) in id.as_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 15)];
        at += 2;
    }
    text
}

/// The canonical text of `id`, as a new `String` (without the formatting
/// machinery, which cost ~650 instructions per id: this is per claim).
pub fn uuid_string(id: &uuid::Uuid) -> String {
    let mut out = String::with_capacity(36);
    push_uuid(&mut out, id);
    out
}

/// [`ArtefactId::parse`] on bytes (keys found by SCAN are bytes).
pub fn parse_bytes(b: &[u8]) -> Option<ArtefactId> {
    ArtefactId::parse_bytes(b)
}

/// The id in `b` when it has one of the accepted forms.
fn checked(b: &[u8]) -> Option<Text> {
    let ok = match b.len() {
        36 => is_dashed(b),
        38 => b[0] == b'{' && b[37] == b'}' && is_dashed(&b[1..37]),
        45 => b[..9].eq_ignore_ascii_case(b"urn:uuid:") && is_dashed(&b[9..]),
        32 => b.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    };
    if !ok {
        return None;
    }
    let mut bytes = [0u8; STORED];
    bytes[..b.len()].copy_from_slice(b);
    Some(Text {
        len: b.len() as u8,
        bytes,
    })
}

/// `8-4-4-4-12` hex digits, any letter case.
fn is_dashed(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";

    #[test]
    fn the_five_forms_are_kept_as_written() {
        for good in [
            ID.to_string(),
            ID.to_uppercase(),
            "4A7c8F1e-2b3D-4c5e-8f90-a1B2c3d4e5f6".to_string(),
            format!("{{{ID}}}"),
            format!("urn:uuid:{ID}"),
            format!("URN:UUID:{}", ID.to_uppercase()),
            ID.replace('-', ""),
            ID.replace('-', "").to_uppercase(),
            "00000000-0000-0000-0000-000000000000".to_string(),
        ] {
            let id = ArtefactId::parse(&good).unwrap_or_else(|| panic!("{good}"));
            assert_eq!(id.as_str(), good);
            assert_eq!(id.to_string(), good);
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            String::new(),
            "../x".into(),
            "a*b".into(),
            "a*:b".into(),
            format!(" {ID}"),
            format!("{ID} "),
            format!("{ID}x"),
            format!("{ID}\n"),
            format!("({ID})"),
            format!("*{ID}*"),
            format!("{{{ID}"),
            format!("urn:uuid:{}", ID.replace('-', "")),
            format!("urn:uid:{ID}x"),
            format!("uuid:{ID}"),
            ID.replace('-', "_"),
            "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5fg".into(),
            "4a7c8f1e2b3d-4c5e-8f90-a1b2c3d4e5f6-".into(),
            ID.replace('-', "")[..31].into(),
            format!("{}0", ID.replace('-', "")),
            "x".repeat(1000),
            "é".repeat(18),
        ] {
            assert!(ArtefactId::parse(&bad).is_none(), "{bad:?}");
        }
        assert!(parse_bytes(b"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5\xff\xfe").is_none());
    }

    #[test]
    fn uuids_are_written_as_the_uuid_crate_writes_them() {
        for id in [
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::parse_str(ID).unwrap(),
            new_v4(),
            new_v4(),
        ] {
            let mut text = String::from("x");
            push_uuid(&mut text, &id);
            assert_eq!(text, format!("x{}", id.hyphenated()));
            assert_eq!(ClaimId::from(id).as_str(), id.hyphenated().to_string());
        }
    }

    #[test]
    fn case_twins_are_distinct() {
        let lower = ArtefactId::parse(ID).unwrap();
        let upper = ArtefactId::parse(&ID.to_uppercase()).unwrap();
        assert_ne!(lower, upper);
    }

    /// Ids are equal (and hash alike) exactly when their text is.
    #[test]
    fn equal_ids_are_equal_texts() {
        let texts = [
            ID.to_string(),
            ID.to_uppercase(),
            format!("{{{ID}}}"),
            format!("urn:uuid:{ID}"),
            format!("urn:uuid:{}", ID.to_uppercase()),
            ID.replace('-', ""),
            "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f7".to_string(),
            "5a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6".to_string(),
        ];
        let ids: Vec<ClaimId> = texts.iter().map(|t| ClaimId::parse(t).unwrap()).collect();
        let set: std::collections::HashSet<ClaimId> = ids.iter().copied().collect();
        assert_eq!(set.len(), texts.len());
        for (a, ta) in ids.iter().zip(&texts) {
            assert!(set.contains(a));
            for (b, tb) in ids.iter().zip(&texts) {
                assert_eq!(a == b, ta == tb, "{ta} {tb}");
            }
            assert_eq!(*a, ClaimId::parse(ta).unwrap());
        }
        let minted = ClaimId::from(uuid::Uuid::parse_str(ID).unwrap());
        assert_eq!(minted, ids[0]);
        assert!(set.contains(&minted));
    }
}
