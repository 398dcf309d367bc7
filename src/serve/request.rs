//! Request bodies: JSON read into an endpoint's request type, with errors an API
//! user can act on. serde's own messages speak Rust (`expected usize`, `untagged
//! enum Languages`, `struct SummarizeRequest`), so a wrong value is reported by
//! its field instead: what the field must be, its allowed values, and what came.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::stream::ApiError;
use super::Shared;

/// A request type that can say what each of its top-level fields must be.
pub(super) trait Fields {
    /// What `field` must hold, as the end of "`field` must be ..." (e.g. "a whole
    /// number from 1 to 20"); `None` for a name that is not a field.
    fn expect(field: &str) -> Option<String>;

    /// The error for a value of `field` that is of the right type but not allowed.
    fn invalid(field: &'static str, got: &dyn std::fmt::Display) -> ApiError {
        let want = Self::expect(field).unwrap_or_else(|| "something else".into());
        ApiError::bad_request(format!("`{field}` must be {want}, not {got}")).with_param(field)
    }
}

/// The JSON body, or an error naming what is wrong with it.
pub(super) fn parse<T: DeserializeOwned + Fields>(
    state: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            super::limits::over_body_limit(state)
        } else {
            ApiError::new(r.status(), format!("cannot read the request body: {r}"))
        }
    })?;
    from_json(&bytes)
}

/// [`parse`] on bytes already read.
pub(super) fn from_json<T: DeserializeOwned + Fields>(bytes: &[u8]) -> Result<T, ApiError> {
    let bad_json =
        |e: &serde_json::Error| ApiError::bad_request(format!("bad JSON in the request body: {e}"));
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() {
        return Err(ApiError::bad_request(
            "the request body is empty: send a JSON object, {\"field\": value, ...}",
        ));
    }
    // serde would also read a struct from an array, its fields taken by position.
    if first != Some(&b'{') {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(bad_json(&e));
        }
        return Err(ApiError::bad_request(
            "the request body must be a JSON object: {\"field\": value, ...}",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => return Err(describe::<T>(bytes, e.path(), e.inner())),
    };
    de.end().map_err(|e| bad_json(&e))?;
    Ok(value)
}

/// The error for a body that is JSON but does not fit `T`.
fn describe<T: Fields>(
    bytes: &[u8],
    path: &serde_path_to_error::Path,
    e: &serde_json::Error,
) -> ApiError {
    if !e.is_data() {
        return ApiError::bad_request(format!("bad JSON in the request body: {e}"));
    }
    // The position is of use for a syntax error, not for a value that does not fit.
    let full = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&at).unwrap_or(&full);
    // These already speak of the request's own fields (and list the known ones).
    if message.starts_with("unknown field") || message.starts_with("duplicate field") {
        return ApiError::bad_request(format!("bad JSON in the request body: {message}"));
    }
    let segments: Vec<&Segment> = path.iter().collect();
    let Some(Segment::Map { key: field }) = segments.first() else {
        return ApiError::bad_request(
            "the request body does not have the fields this endpoint takes",
        );
    };
    let Some(want) = T::expect(field) else {
        return ApiError::bad_request(format!("`{field}` is not a field of this endpoint"));
    };
    // serde's wording for a missing field, "missing field `role`".
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next());
    let text = match (segments.len(), missing) {
        (1, None) => {
            let got = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| at_path(&v, &segments).map(sketch));
            match got {
                Some(got) => format!("`{field}` must be {want}, not {got}"),
                None => format!("`{field}` must be {want}"),
            }
        }
        (_, Some(missing)) => format!("`{path}` has no `{missing}`: `{field}` must be {want}"),
        _ => format!("`{path}` is not valid: `{field}` must be {want}"),
    };
    ApiError::bad_request(text).with_param(field)
}

/// The value at `path` in `root`, if the path is plain keys and indices.
fn at_path<'a>(root: &'a Value, path: &[&Segment]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, segment| match segment {
        Segment::Map { key } => v.get(key),
        Segment::Seq { index } => v.get(index),
        _ => None,
    })
}

/// A short rendering of what a client sent, for an error message: its JSON,
/// cut after 40 bytes.
fn sketch(v: &Value) -> String {
    const MOST: usize = 40;
    let text = v.to_string();
    if text.len() <= MOST {
        return text;
    }
    format!("{}…", &text[..text.floor_char_boundary(MOST)])
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde::Deserialize;

    /// The field names serde lists for an unknown field (`deny_unknown_fields`).
    pub fn declared_fields<T: DeserializeOwned + Fields>() -> Vec<String> {
        let e = from_json::<T>(br#"{"no such field": 1}"#).err().unwrap();
        let list = e.message.split("expected ").nth(1).unwrap();
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Messages that would tell an API user about the server's Rust.
    pub fn assert_no_rust(message: &str) {
        for word in [
            "usize",
            "u64",
            "f64",
            "f32",
            "struct",
            "enum",
            "variant",
            "invalid type",
            "line 1",
            "sequence",
            "Option",
        ] {
            assert!(!message.contains(word), "{word:?} in {message:?}");
        }
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        count: Option<usize>,
        items: Option<Vec<Item>>,
    }

    #[derive(Deserialize, Debug)]
    struct Item {
        name: String,
    }

    impl Fields for Sample {
        fn expect(field: &str) -> Option<String> {
            Some(match field {
                "count" => "a whole number from 1 to 5".into(),
                "items" => "a list of {\"name\": text}".into(),
                _ => return None,
            })
        }
    }

    fn error(body: &str) -> ApiError {
        from_json::<Sample>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_wrong_type_names_the_field_what_it_must_be_and_what_came() {
        let e = error(r#"{"count": "three"}"#);
        assert_eq!(
            e.message,
            "`count` must be a whole number from 1 to 5, not \"three\""
        );
        assert_eq!(e.param.as_deref(), Some("count"));
        for (body, got) in [
            (r#"{"count": -1}"#, "not -1"),
            (r#"{"count": 2.5}"#, "not 2.5"),
            (r#"{"count": [1]}"#, "not [1]"),
            (r#"{"count": {"a": 1}}"#, "not {\"a\":1}"),
        ] {
            let e = error(body);
            assert!(e.message.ends_with(got), "{body}: {}", e.message);
            assert_no_rust(&e.message);
        }
        let long = format!(r#"{{"count": "{}"}}"#, "é".repeat(100));
        assert!(error(&long).message.len() < 120, "{}", error(&long).message);
    }

    #[test]
    fn a_good_body_is_read() {
        let s = from_json::<Sample>(br#" {"count": 2, "items": [{"name": "a"}]} "#).unwrap();
        assert_eq!(s.count, Some(2));
        assert_eq!(s.items.unwrap()[0].name, "a");
    }

    #[test]
    fn nested_errors_give_the_path() {
        let e = error(r#"{"items": [{"name": "a"}, {"name": 3}]}"#);
        assert_eq!(
            e.message,
            "`items[1].name` is not valid: `items` must be a list of {\"name\": text}"
        );
        let e = error(r#"{"items": [{}]}"#);
        assert!(
            e.message.starts_with("`items[0]` has no `name`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn syntax_unknown_fields_and_non_objects() {
        assert!(error("{not json").message.starts_with("bad JSON"));
        let e = error(r#"{"colour": 1}"#);
        assert!(
            e.message.contains("unknown field `colour`"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("`count` or `items`"), "{}", e.message);
        // serde would take a struct from an array, by position.
        for body in ["[1]", "\"x\"", "3", ""] {
            let e = error(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_no_rust(&e.message);
        }
        assert!(error("[5]").message.contains("JSON object"));
        assert!(error(r#"{"count": 1} x"#).message.starts_with("bad JSON"));
        assert_eq!(declared_fields::<Sample>(), ["count", "items"]);
    }
}
