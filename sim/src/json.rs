//! JSON as Go's `encoding/json` writes it, which is how every other program
//! on the blackboard writes (Holt's orchestrator, its agents, its CLI):
//! strings with `"` and `\` escaped, `\n`, `\r`, `\t`, `\b`, `\f` short,
//! other control characters as `\u00XX`, and `<`, `>`, `&`, U+2028, U+2029
//! as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`; map keys sorted
//! bytewise. Struct fields keep their declared order: the callers in
//! [`crate::wire`] write them in that order. Written straight into one
//! buffer: sett-bench's agents spell thousands of messages a second.

use std::collections::BTreeMap;

/// Appends `s` as a JSON string, quotes included, as Go writes it.
pub fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    // Text that needs no escape goes in as whole runs.
    let mut plain = 0;
    for (at, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => "",
            _ => continue,
        };
        out.push_str(&s[plain..at]);
        plain = at + c.len_utf8();
        if short.is_empty() {
            let n = c as usize;
            out.push_str("\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[(n >> shift) & 0xf] as char);
            }
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// A JSON string, quotes included, as Go writes it.
pub fn string(s: &str) -> String {
    let mut out = String::new();
    push_string(&mut out, s);
    out
}

/// A JSON array of strings (`[]` when empty; Go writes a nil slice as `null`).
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(&mut out, s.as_ref());
    }
    out.push(']');
    out
}

/// A Go `map[string]string`: keys sorted bytewise.
pub fn map(pairs: &[(&str, &str)]) -> String {
    let sorted: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    let mut out = Object::new();
    for (k, v) in sorted {
        out.string(k, v);
    }
    out.end()
}

/// `{"k":v,…}`, written field by field in the order given.
pub struct Object(String);

impl Object {
    pub fn new() -> Object {
        Object::with_capacity(128)
    }

    /// Room for `bytes` of JSON.
    pub fn with_capacity(bytes: usize) -> Object {
        Object(String::with_capacity(bytes))
    }

    fn key(&mut self, k: &str) -> &mut String {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        push_string(&mut self.0, k);
        self.0.push(':');
        &mut self.0
    }

    /// A string field.
    pub fn string(&mut self, k: &str, v: &str) -> &mut Object {
        push_string(self.key(k), v);
        self
    }

    /// A field whose value `raw` is JSON already (a number, a list, an object).
    pub fn raw(&mut self, k: &str, raw: &str) -> &mut Object {
        self.key(k).push_str(raw);
        self
    }

    pub fn end(&mut self) -> String {
        let mut out = std::mem::take(&mut self.0);
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
        out
    }
}

impl Default for Object {
    fn default() -> Object {
        Object::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_go_does() {
        assert_eq!(string("a<b>&\"c"), r#""a\u003cb\u003e\u0026\"c""#);
        assert_eq!(string("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        assert_eq!(
            string("\n\t\r\u{8}\u{c}\u{0}\u{1}\u{1f}\u{7f}é\\/"),
            "\"\\n\\t\\r\\b\\f\\u0000\\u0001\\u001f\u{7f}é\\\\/\""
        );
        assert_eq!(string(""), r#""""#);
    }

    #[test]
    fn lists_maps_and_objects() {
        assert_eq!(list::<&str>(&[]), "[]");
        assert_eq!(list(&["a", "<b>"]), r#"["a","\u003cb\u003e"]"#);
        assert_eq!(map(&[]), "{}");
        // Bytewise: uppercase before lowercase, `-` before letters.
        assert_eq!(
            map(&[("b", "1"), ("B", "2"), ("-x", "&")]),
            r#"{"-x":"\u0026","B":"2","b":"1"}"#
        );
        let o = Object::new().string("a", "x").raw("n", "1").end();
        assert_eq!(o, r#"{"a":"x","n":1}"#);
    }
}
