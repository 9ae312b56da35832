//! Just enough JSON for the benchmark tools' one-line reports: flat objects whose
//! values are numbers, strings, booleans or null. Writing goes through `escape`.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
}

/// Parses one flat object such as `{"a":1,"b":"x"}`; None when it is anything else.
pub(super) fn parse_object(text: &str) -> Option<BTreeMap<String, Value>> {
    let mut rest = text.trim().strip_prefix('{')?.trim_start();
    let mut object = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('}') {
        return after.trim().is_empty().then_some(object);
    }
    loop {
        let (key, after) = string(rest)?;
        rest = after.trim_start().strip_prefix(':')?.trim_start();
        let (value, after) = value(rest)?;
        object.insert(key, value);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else {
            let after = rest.strip_prefix('}')?;
            return after.trim().is_empty().then_some(object);
        }
    }
}

fn value(text: &str) -> Option<(Value, &str)> {
    if text.starts_with('"') {
        let (s, rest) = string(text)?;
        return Some((Value::Text(s), rest));
    }
    for (word, value) in [
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
    ] {
        if let Some(rest) = text.strip_prefix(word) {
            return Some((value, rest));
        }
    }
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(text.len());
    let number = text[..end].parse().ok()?;
    Some((Value::Number(number), &text[end..]))
}

fn string(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let body = &text[1..];
    let mut out = String::new();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[index + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|c| c.1)).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `text` as a JSON string literal, quotes included.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as JSON (which has no NaN or infinity).
pub(super) fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_parse() {
        let object =
            parse_object(r#" {"n":-1.5e3, "s":"a\"b\\c\n", "t":true,"z":null,"u":"\u0041"} "#)
                .unwrap();
        assert_eq!(object["n"], Value::Number(-1500.0));
        assert_eq!(object["s"], Value::Text("a\"b\\c\n".into()));
        assert_eq!(object["t"], Value::Bool(true));
        assert_eq!(object["z"], Value::Null);
        assert_eq!(object["u"], Value::Text("A".into()));
        assert_eq!(parse_object("{}").unwrap().len(), 0);
    }

    #[test]
    fn other_text_does_not_parse() {
        for text in [
            "",
            "LISTENING 80",
            "{\"a\":1",
            "{\"a\":1} x",
            "{\"a\":[1]}",
            "{a:1}",
        ] {
            assert_eq!(parse_object(text), None, "{text}");
        }
    }

    #[test]
    fn escaped_strings_read_back() {
        let text = "q\"b\\s\n\u{1}";
        let object = parse_object(&format!("{{\"k\":{}}}", escape(text))).unwrap();
        assert_eq!(object["k"], Value::Text(text.into()));
        assert_eq!(number(f64::NAN), "null");
    }
}
