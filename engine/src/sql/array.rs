//! Array literals as text: `{1,2,NULL}`, `{"a b","say \"hi\""}`.
//!
//! PostgreSQL's `array_in`/`array_out` for one-dimensional arrays. An
//! element is quoted on output when it is empty, is `NULL` spelled in any
//! case, or holds a brace, comma, quote, backslash or white space; inside
//! quotes `"` and `\` are escaped with a backslash. Input accepts the same,
//! with white space around elements ignored and an unquoted `NULL` meaning a
//! null element.
//!
//! Left out on purpose: multidimensional arrays and explicit bounds
//! (`'[0:1]={1,2}'`), refused with 0A000 so nothing is silently flattened.

use crate::error::{EngineError, EngineResult};

fn malformed(text: &str, detail: &'static str) -> EngineError {
    EngineError::MalformedArray {
        text: text.to_string(),
        detail,
    }
}

const END: &str = "Unexpected end of input.";
const ELEMENT: &str = "Unexpected array element.";

/// Splits an array literal into its elements (`None` for NULL).
pub fn parse_array_literal(text: &str) -> EngineResult<Vec<Option<String>>> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        return Err(EngineError::FeatureNotSupported(
            "array bounds other than the default".into(),
        ));
    }
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(|| {
            if trimmed.starts_with('{') {
                malformed(text, END)
            } else {
                malformed(
                    text,
                    "Array value must start with \"{\" or dimension information.",
                )
            }
        })?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Ok(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        let mut quoted = false;
        match chars.peek() {
            Some('"') => {
                chars.next();
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\\') => value.push(chars.next().ok_or_else(|| malformed(text, END))?),
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return Err(malformed(text, END)),
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('{') => {
                return Err(EngineError::FeatureNotSupported(
                    "multidimensional arrays are not supported".into(),
                ))
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '"' | '{' | '}' => return Err(malformed(text, ELEMENT)),
                        '\\' => {
                            chars.next();
                            value.push(chars.next().ok_or_else(|| malformed(text, END))?);
                            continue;
                        }
                        _ => value.push(c),
                    }
                    chars.next();
                }
                let end = value.trim_end().len();
                value.truncate(end);
                if value.is_empty() {
                    return Err(malformed(
                        text,
                        if chars.peek().is_some() {
                            "Unexpected \",\" character."
                        } else {
                            END
                        },
                    ));
                }
            }
        }
        if !quoted && value.eq_ignore_ascii_case("null") {
            items.push(None);
        } else {
            items.push(Some(value));
        }
        match chars.next() {
            Some(',') => continue,
            None => return Ok(items),
            Some(_) => return Err(malformed(text, ELEMENT)),
        }
    }
}

/// Whether `array_out` quotes this element.
fn needs_quotes(element: &str) -> bool {
    element.is_empty()
        || element.eq_ignore_ascii_case("null")
        || element
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace())
}

/// Renders elements (already in their text form) as an array literal.
pub fn array_text<I, S>(items: I) -> String
where
    I: IntoIterator<Item = Option<S>>,
    S: AsRef<str>,
{
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            None => out.push_str("NULL"),
            Some(element) => {
                let element = element.as_ref();
                if needs_quotes(element) {
                    out.push('"');
                    for c in element.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(element);
                }
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn literals_split_like_array_in() {
        assert_eq!(
            parse_array_literal("{1, 2 ,NULL}").unwrap(),
            vec![s("1"), s("2"), None]
        );
        assert_eq!(
            parse_array_literal(r#"{"a b","NULL","say \"hi\"",x\,y}"#).unwrap(),
            vec![s("a b"), s("NULL"), s("say \"hi\""), s("x,y")]
        );
        assert_eq!(
            parse_array_literal(" {} ").unwrap(),
            Vec::<Option<String>>::new()
        );
    }

    #[test]
    fn malformed_literals_are_22p02_and_nesting_0a000() {
        for text in ["1,2", "{1,,2}", "{\"a}", "{a\"b}"] {
            assert_eq!(
                parse_array_literal(text).unwrap_err().sqlstate(),
                "22P02",
                "{text}"
            );
        }
        assert_eq!(
            parse_array_literal("{{1},{2}}").unwrap_err().sqlstate(),
            "0A000"
        );
    }

    #[test]
    fn output_quotes_like_array_out_and_parses_back() {
        let items = vec![s(""), s("null"), s("a b"), s("q\"\\"), s("plain"), None];
        let text = array_text(items.clone());
        assert_eq!(text, r#"{"","null","a b","q\"\\",plain,NULL}"#);
        assert_eq!(parse_array_literal(&text).unwrap(), items);
    }
}
