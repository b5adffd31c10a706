//! Reading Rust source as text for `tests/layers.rs`: the code without
//! comments, literals and `#[cfg(test)]` items, the `mod x;` lines, and every
//! path a file names (`use` trees expanded, inline `crate::`/`super::`/`self::`
//! paths). Apart from the map and the loops it serves because it knows only
//! Rust's syntax, nothing of this house.

/// The source without comments, string and char literals, and `#[cfg(test)]` items.
pub fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + n + 4);
        } else if b[i] == b'r'
            && (text[i + 1..].starts_with('"')
                || text[i + 1..].starts_with("#\"")
                || text[i + 1..].starts_with("##\""))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let hashes = text[i + 1..].bytes().take_while(|&c| c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            i = text[start..]
                .find(&close)
                .map_or(b.len(), |n| start + n + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(&text[i..]).is_some() {
            i += char_literal_len(&text[i..]).unwrap();
            out.push_str("' '");
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    strip_test_items(&out)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `'x'`, `'\n'`, `'\u{1F600}'`, `'é'` (not a lifetime).
fn char_literal_len(s: &str) -> Option<usize> {
    let rest = &s[1..];
    let end = if let Some(escaped) = rest.strip_prefix('\\') {
        escaped.find('\'')? + 1
    } else {
        rest.chars().next()?.len_utf8()
    };
    (rest[end..].starts_with('\'')).then_some(end + 2)
}

/// Removes every item marked `#[cfg(test)]` (a `mod tests { … }` or `mod x;`).
fn strip_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let semi = after.find(';');
        let brace = after.find('{');
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (_, Some(b)) => b + block_len(&after[b..]),
            (Some(s), None) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The length of the `{ … }` block `s` starts with.
fn block_len(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The names of `mod x;` lines (inline `mod x { … }` blocks are not files).
pub fn declared_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue;
        }
        let rest = &code[at + 4..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with(';') {
            out.push(name);
        }
    }
    out
}

/// Every path named: each leaf of every `use` tree, and inline `crate::`,
/// `super::`, `self::` and `child::` paths (`children`: the file's `mod x;`).
pub fn paths_used(code: &str, children: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("use ") {
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue;
        }
        let end = code[at..].find(';').map_or(code.len(), |n| at + n);
        expand(&code[at + 4..end], &[], &mut out);
    }
    let b = code.as_bytes();
    let roots = ["crate", "super", "self"].into_iter().map(String::from);
    for root in roots.chain(children.iter().cloned()) {
        let start = format!("{root}::");
        for (at, _) in code.match_indices(&start) {
            if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b':') {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = segments(&path);
            // `crate::{…}` is a `use` tree, read above.
            if path.len() > 1 {
                out.push(path);
            }
        }
    }
    out
}

pub fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "*")
        .map(|s| s.split_whitespace().next().unwrap_or(s).to_string())
        .collect()
}

/// A `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        path.extend(segments(tree));
        out.push(path);
        return;
    };
    let mut base = prefix.to_vec();
    base.extend(segments(&tree[..open]));
    let inner = &tree[open + 1..open + block_len(&tree[open..]) - 1];
    let mut depth = 0;
    let mut from = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_item(&inner[from..i], &base, out);
                from = i + 1;
            }
            _ => {}
        }
    }
    expand_item(&inner[from..], &base, out);
}

fn expand_item(item: &str, base: &[String], out: &mut Vec<Vec<String>>) {
    let item = item.trim();
    if item == "self" {
        out.push(base.to_vec());
    } else if !item.is_empty() {
        expand(item, base, out);
    }
}
