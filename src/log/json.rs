//! The JSON pieces of a log line: escaped strings, cut text, timestamps.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    // Fast path: most values (ids, event names) need no escaping.
    if !needs_escape(s.as_bytes()) {
        buf.push_str(s);
        buf.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// Whether any byte is below 0x20, `"`, `\\` or 0x7f and above (what the
/// fast path of [`push_json_str`] cannot copy as it is): eight bytes at a
/// time, as every field and key of every log line goes through it.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let special = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
        // A byte below 0x20 or at 0x80 and above; then 0x7f, `"` and `\\`.
        if x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0
            || x & HIGH != 0
            || zero_in(x ^ (ONES * 0x7f))
            || zero_in(x ^ (ONES * u64::from(b'"')))
            || zero_in(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    words.remainder().iter().any(|&b| special(b))
}

/// RFC 3339 UTC with milliseconds: `2026-11-27T03:25:54.123Z` (digits
/// written by hand: the formatting machinery cost about 2,000 instructions
/// a line, a tenth of a Phase-1 claim's).
pub fn write_timestamp(buf: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let millis = since.subsec_millis();
    if !(0..10_000).contains(&y) {
        let _ = write!(
            buf,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
        );
        return;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    // Two digits of `n` (below 100) at `at`.
    let mut two = |at: usize, n: u64| {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    };
    two(0, y as u64 / 100);
    two(2, y as u64 % 100);
    two(5, u64::from(m));
    two(8, u64::from(d));
    two(11, rem / 3600);
    two(14, rem % 3600 / 60);
    two(17, rem % 60);
    two(21, u64::from(millis % 100));
    text[20] = b'0' + (millis / 100) as u8;
    buf.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Appends `n` in decimal (as `{n}` writes it, without the formatting machinery).
pub fn push_u64(buf: &mut String, mut n: u64) {
    let mut text = [0u8; 20];
    let mut at = text.len();
    loop {
        at -= 1;
        text[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.push_str(std::str::from_utf8(&text[at..]).unwrap_or_default());
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `["a","b"]`, each string escaped.
pub fn push_json_array<'a>(b: &mut String, items: impl Iterator<Item = &'a str>) {
    b.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            b.push(',');
        }
        push_json_str(b, item);
    }
    b.push(']');
}

/// `["a","b"]` as a new string.
pub fn json_array(items: &[String]) -> String {
    let mut out = String::with_capacity(2 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    push_json_array(&mut out, items.iter().map(String::as_str));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let mut s = String::new();
        write_timestamp(
            &mut s,
            UNIX_EPOCH + Duration::from_millis(1_795_750_554_123),
        );
        assert_eq!(s, "2026-11-27T03:35:54.123Z");
        s.clear();
        write_timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // leap day
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn hand_written_digits_are_what_fmt_writes() {
        for ms in [
            0u64,
            1,
            999,
            59_999,
            86_399_999,
            951_782_400_000,
            1_795_750_554_123,
            4_102_444_799_999,
            253_402_300_799_999,
            253_402_300_800_000,
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let mut hand = String::new();
            write_timestamp(&mut hand, t);
            let since = t.duration_since(UNIX_EPOCH).unwrap();
            let (secs, rem) = (since.as_secs() / 86_400, since.as_secs() % 86_400);
            let (y, m, d) = civil_from_days(secs as i64);
            let fmt = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                since.subsec_millis()
            );
            assert_eq!(hand, fmt);
        }
        for n in [0, 7, 10, 99, 100, 123_456_789, u64::MAX / 10, u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn the_word_check_finds_every_byte_that_needs_escaping() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let want = b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
                    assert_eq!(needs_escape(&bytes), want, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        assert_eq!(truncate(&long, 200).len(), 200);
        assert_eq!(truncate(&long, 201).len(), 200);
        assert_eq!(truncate("abc", 2), "ab");
    }
}
