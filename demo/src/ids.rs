//! Ids as the timeline prints them: the first six characters, which are
//! enough to tell a story's artefacts and claims apart.

/// `3f2a1b…`: the first six characters of an id.
pub fn short(id: &str) -> String {
    format!("{}…", id.get(..6).unwrap_or(id))
}

/// `text` with every UUID in it shortened (reasons and Failure payloads name ids).
pub fn shorten_ids(text: &str) -> String {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.get(..36).filter(|s| is_uuid(s)) {
            Some(id) => {
                out.push_str(&short(id));
                rest = &rest[36..];
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shortened_inside_text() {
        let id = "3f2a1b00-0000-4000-8000-000000000001";
        assert_eq!(
            shorten_ids(&format!("See artefacts: [{id} {id}]")),
            "See artefacts: [3f2a1b… 3f2a1b…]"
        );
        assert_eq!(shorten_ids("no ids, naïve"), "no ids, naïve");
    }
}
