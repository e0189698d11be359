//! Repair of JSON that a feed broke: NSS writes values between quotes without escaping them
//! unless the format uses the `e` variant of a field and the feed escapes `"` and `\`, so a
//! user agent or URL with a quote or backslash in it yields text that no JSON parser accepts.
//! The repair decides, for every quote inside a string, whether it can end the string (what
//! follows it must be what JSON allows after a key or a value) and escapes it otherwise; a
//! backslash that does not start a JSON escape is escaped too, and raw control characters
//! inside strings become `\u00XX`.

/// What the next string of a container is.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Key,
    Value,
}

/// The repaired text, or `None` when the text does not look like a JSON object at all.
pub(crate) fn repair(text: &str) -> Option<String> {
    let b = text.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    // Containers open: true for an object, false for an array.
    let mut stack: Vec<bool> = Vec::new();
    let mut slot = Slot::Key;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                let end = string_end(text, i + 1, slot, &stack, &mut out);
                i = end;
                continue;
            }
            b'{' => {
                stack.push(true);
                slot = Slot::Key;
            }
            b'[' => {
                stack.push(false);
                slot = Slot::Value;
            }
            b'}' | b']' => {
                stack.pop();
                slot = Slot::Value;
            }
            b':' => slot = Slot::Value,
            b',' => {
                slot = if stack.last() == Some(&true) {
                    Slot::Key
                } else {
                    Slot::Value
                }
            }
            _ => {}
        }
        if c >= 0x20 || matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            // Copy the whole character (multi-byte ones included).
            let ch_len = utf8_len(c);
            out.push_str(text.get(i..i + ch_len).unwrap_or(""));
            i += ch_len;
        } else {
            i += 1;
        }
    }
    Some(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// True when the text after a quote at `at` is what may follow a closing quote: after a key
/// a `:`, after a value a `,` that starts another member, or the end of the container.
fn can_close(b: &[u8], at: usize, slot: Slot, in_object: bool) -> bool {
    let mut j = at;
    while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r') {
        j += 1;
    }
    let Some(&next) = b.get(j) else {
        return true;
    };
    match slot {
        Slot::Key => next == b':',
        Slot::Value => match next {
            b'}' if in_object => true,
            b']' if !in_object => true,
            b',' => {
                // The next member must start like one: a key in an object, a value in an
                // array.
                let mut k = j + 1;
                while k < b.len() && matches!(b[k], b' ' | b'\t' | b'\n' | b'\r') {
                    k += 1;
                }
                match b.get(k) {
                    Some(b'"') => true,
                    Some(c) if !in_object => {
                        matches!(c, b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
                    }
                    None => true,
                    _ => false,
                }
            }
            _ => false,
        },
    }
}

/// Copies the string starting after the quote at `start - 1` to `out`, repaired, with its
/// quotes; returns the index after its closing quote.
fn string_end(text: &str, start: usize, slot: Slot, stack: &[bool], out: &mut String) -> usize {
    let b = text.as_bytes();
    let in_object = stack.last() != Some(&false);
    out.push('"');
    let mut i = start;
    let mut run = start;
    let flush =
        |out: &mut String, from: usize, to: usize| out.push_str(text.get(from..to).unwrap_or(""));
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let valid = match b.get(i + 1) {
                    Some(b'"') => {
                        // `\"` is an escaped quote unless the string plainly ends there with a
                        // value's last character being a backslash (`"C:\"`).
                        !can_close(b, i + 2, slot, in_object)
                            || can_close_later(b, i + 2, slot, in_object)
                    }
                    Some(b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => true,
                    Some(b'u') => b
                        .get(i + 2..i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                    _ => false,
                };
                flush(out, run, i);
                if valid {
                    out.push_str(text.get(i..i + 2).unwrap_or(""));
                    i += 2;
                } else {
                    out.push_str("\\\\");
                    i += 1;
                }
                run = i;
            }
            b'"' => {
                flush(out, run, i);
                if can_close(b, i + 1, slot, in_object) {
                    out.push('"');
                    return i + 1;
                }
                out.push_str("\\\"");
                i += 1;
                run = i;
            }
            c if c < 0x20 => {
                flush(out, run, i);
                out.push_str(&format!("\\u{:04x}", c));
                i += 1;
                run = i;
            }
            _ => i += 1,
        }
    }
    flush(out, run, b.len());
    out.push('"');
    b.len()
}

/// True when some later quote in the text could also end the string: then a `\"` that looks
/// like an ending is taken as an escaped quote.
fn can_close_later(b: &[u8], from: usize, slot: Slot, in_object: bool) -> bool {
    let mut j = from;
    while let Some(off) = memchr::memchr(b'"', &b[j..]) {
        let q = j + off;
        if b[q - 1] != b'\\' && can_close(b, q + 1, slot, in_object) {
            // Only if that quote is before the next key would start: a quote closing this
            // string must come before a `":` of the next member.
            return !b[from..q].windows(2).any(|w| w == b"\":");
        }
        j = q + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(s: &str) -> serde_json::Value {
        let r = repair(s).expect("repairable");
        serde_json::from_str(&r).unwrap_or_else(|e| panic!("{r}: {e}"))
    }

    #[test]
    fn an_unescaped_quote_inside_a_value_is_escaped() {
        let v = fixed(r#"{"ua":"Mozilla "compatible" x","b":"c"}"#);
        assert_eq!(v["ua"], r#"Mozilla "compatible" x"#);
        assert_eq!(v["b"], "c");
    }

    #[test]
    fn a_quote_followed_by_a_comma_and_text_is_inside_the_value() {
        let v = fixed(r#"{"ua":"a", b"}"#);
        assert_eq!(v["ua"], r#"a", b"#);
    }

    #[test]
    fn a_lone_backslash_is_escaped() {
        let v = fixed(r#"{"f":"C:\Users\x\(1)","g":"h"}"#);
        assert_eq!(v["f"], r#"C:\Users\x\(1)"#);
    }

    #[test]
    fn a_value_ending_in_a_backslash_keeps_it() {
        let v = fixed(r#"{"f":"C:\","g":"h"}"#);
        assert_eq!(v["f"], "C:\\");
        assert_eq!(v["g"], "h");
    }

    #[test]
    fn valid_escapes_are_kept() {
        let v = fixed(r#"{"f":"a\"b\\c\u0041","g":"\n"}"#);
        assert_eq!(v["f"], "a\"b\\cA");
    }

    #[test]
    fn nested_objects_are_walked() {
        let v = fixed(r#"{"sourcetype":"x","event":{"ua":"say "hi"","n":"1"}}"#);
        assert_eq!(v["event"]["ua"], r#"say "hi""#);
        assert_eq!(v["event"]["n"], "1");
    }

    #[test]
    fn text_that_is_not_an_object_is_not_repaired() {
        assert!(repair("not json").is_none());
    }
}
