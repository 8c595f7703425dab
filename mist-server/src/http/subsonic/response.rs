//! The `subsonic-response` envelope in its three formats.
//!
//! A payload is built once as a small tree ([`Node`]) and written as XML
//! (`f=xml`, the default), JSON (`f=json`) or JSONP (`f=jsonp`), following
//! the mapping every Subsonic server uses: an XML attribute is a JSON field
//! of the same name and type, a repeated child element is a JSON array, a
//! single child is an object, and an element's text is the JSON field
//! `value`. Errors are answered with HTTP 200 and `status="failed"`, as the
//! spec asks, except where a binary endpoint says otherwise (`stream`'s
//! 429 when the day's quota is spent).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

/// The Subsonic API version this server speaks.
pub const API_VERSION: &str = "1.16.1";
/// `type` in every answer.
pub const SERVER_TYPE: &str = "mist";
/// `serverVersion` in every answer.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A scalar: an XML attribute value or a JSON field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Str(s.clone())
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Float(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl Value {
    fn xml(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Float(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }

    fn json(&self) -> Json {
        match self {
            Value::Str(s) => Json::String(s.clone()),
            Value::Int(n) => Json::from(*n),
            Value::Float(n) => serde_json::Number::from_f64(*n).map(Json::Number).unwrap_or(Json::Null),
            Value::Bool(b) => Json::Bool(*b),
        }
    }
}

/// One element of a payload.
#[derive(Debug, Clone, Default)]
pub struct Node {
    name: &'static str,
    attrs: Vec<(&'static str, Value)>,
    children: Vec<Child>,
    text: Option<String>,
}

#[derive(Debug, Clone)]
enum Child {
    /// A single element: a JSON object.
    One(Node),
    /// Repeated elements of one name: a JSON array (empty: `[]`, no XML).
    Many(&'static str, Vec<Node>),
    /// Repeated text-only elements: a JSON array of scalars.
    Values(&'static str, Vec<Value>),
}

impl Node {
    pub fn new(name: &'static str) -> Self {
        Node {
            name,
            ..Default::default()
        }
    }

    /// The content of `subsonic-response`: children only, the envelope's
    /// attributes are added when it is written.
    pub fn body() -> Self {
        Node::new("subsonic-response")
    }

    pub fn attr(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    /// An attribute only when there is a value.
    pub fn opt<V: Into<Value>>(self, name: &'static str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    pub fn child(mut self, node: Node) -> Self {
        self.children.push(Child::One(node));
        self
    }

    /// Repeated children named `name` (each node is renamed to it).
    pub fn list(mut self, name: &'static str, nodes: Vec<Node>) -> Self {
        self.children.push(Child::Many(name, nodes));
        self
    }

    pub fn values(mut self, name: &'static str, values: Vec<Value>) -> Self {
        self.children.push(Child::Values(name, values));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    fn write_xml(&self, name: &str, out: &mut String) {
        out.push('<');
        out.push_str(name);
        for (attr, value) in &self.attrs {
            out.push(' ');
            out.push_str(attr);
            out.push_str("=\"");
            escape_xml(&value.xml(), out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            escape_xml(text, out);
        }
        for child in &self.children {
            match child {
                Child::One(node) => node.write_xml(node.name, out),
                Child::Many(name, nodes) => {
                    for node in nodes {
                        node.write_xml(name, out);
                    }
                }
                Child::Values(name, values) => {
                    for value in values {
                        out.push('<');
                        out.push_str(name);
                        out.push('>');
                        escape_xml(&value.xml(), out);
                        out.push_str("</");
                        out.push_str(name);
                        out.push('>');
                    }
                }
            }
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }

    fn to_json(&self) -> Map<String, Json> {
        let mut map = Map::new();
        for (attr, value) in &self.attrs {
            map.insert((*attr).to_owned(), value.json());
        }
        if let Some(text) = &self.text {
            map.insert("value".to_owned(), Json::String(text.clone()));
        }
        for child in &self.children {
            match child {
                Child::One(node) => {
                    map.insert(node.name.to_owned(), Json::Object(node.to_json()));
                }
                Child::Many(name, nodes) => {
                    let items = nodes.iter().map(|n| Json::Object(n.to_json())).collect();
                    map.insert((*name).to_owned(), Json::Array(items));
                }
                Child::Values(name, values) => {
                    map.insert(
                        (*name).to_owned(),
                        Json::Array(values.iter().map(Value::json).collect()),
                    );
                }
            }
        }
        map
    }
}

/// Escapes text for an attribute or element; characters XML 1.0 cannot
/// carry at all (most C0 controls) become U+FFFD rather than breaking the
/// document.
fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The answer format a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    /// With a callback checked by [`safe_callback`].
    Jsonp(String),
}

/// A JSONP callback is written into JavaScript the client runs: only a
/// plain (optionally dotted) identifier is accepted, never anything that
/// could close the call and add code.
pub fn safe_callback(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    first_ok
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.')
        && !name.contains("..")
        && !name.ends_with('.')
}

/// What a Subsonic method answers: a payload, or an error with its code.
#[derive(Debug, thiserror::Error)]
pub enum SubsonicError {
    #[error("{0}")]
    Generic(String),
    #[error("required parameter is missing: {0}")]
    Missing(&'static str),
    #[error("{0}")]
    BadParameter(String),
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("multiple conflicting authentication mechanisms provided")]
    Conflicting,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("{0}")]
    NotAuthorised(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    NotImplemented(String),
    /// The day's listening quota is spent: HTTP 429, so a player stops.
    #[error("today's listening quota is used up; it resets at {0}")]
    QuotaExceeded(chrono::DateTime<chrono::Utc>),
    #[error("too many failed sign-ins; retry in {0} s")]
    RateLimited(u64),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl SubsonicError {
    pub fn code(&self) -> i64 {
        match self {
            SubsonicError::Generic(_)
            | SubsonicError::NotImplemented(_)
            | SubsonicError::QuotaExceeded(_)
            | SubsonicError::Internal(_) => 0,
            SubsonicError::Missing(_) | SubsonicError::BadParameter(_) => 10,
            SubsonicError::WrongCredentials | SubsonicError::RateLimited(_) => 40,
            SubsonicError::Unsupported(_) => 42,
            SubsonicError::Conflicting => 43,
            SubsonicError::InvalidApiKey => 44,
            SubsonicError::NotAuthorised(_) => 50,
            SubsonicError::NotFound(_) => 70,
        }
    }

    /// HTTP 200 as the spec asks, but for what a client must not retry at once.
    pub fn status(&self) -> StatusCode {
        match self {
            SubsonicError::QuotaExceeded(_) | SubsonicError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            SubsonicError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::OK,
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        SubsonicError::Internal(err.into())
    }
}

impl From<sqlx::Error> for SubsonicError {
    fn from(e: sqlx::Error) -> Self {
        SubsonicError::internal(e)
    }
}

impl From<crate::storage::StorageError> for SubsonicError {
    fn from(e: crate::storage::StorageError) -> Self {
        SubsonicError::internal(e)
    }
}

impl From<crate::text::FieldError> for SubsonicError {
    fn from(e: crate::text::FieldError) -> Self {
        SubsonicError::BadParameter(e.0)
    }
}

impl From<crate::http::error::ApiError> for SubsonicError {
    fn from(e: crate::http::error::ApiError) -> Self {
        use crate::http::error::ApiError;
        match e {
            ApiError::NotFound(what) => SubsonicError::NotFound(what),
            ApiError::QuotaExceeded { resets_at } => SubsonicError::QuotaExceeded(resets_at),
            ApiError::Forbidden(m) => SubsonicError::NotAuthorised(m),
            ApiError::Forbidden403 { message, .. } => SubsonicError::NotAuthorised(message),
            ApiError::BadRequest { message, .. } | ApiError::Unprocessable { message, .. } => {
                SubsonicError::BadParameter(message)
            }
            ApiError::Internal(e) => SubsonicError::Internal(e),
            other => SubsonicError::Generic(other.to_string()),
        }
    }
}

/// Writes `body` (a [`Node::body`] holding the children of
/// `subsonic-response`) in `format`.
pub fn ok(format: &Format, body: Node) -> Response {
    envelope(format, "ok", body, StatusCode::OK)
}

/// Writes an error in `format`, logging internal causes (never sent).
pub fn failed(format: &Format, error: &SubsonicError) -> Response {
    let message = match error {
        SubsonicError::Internal(cause) => {
            tracing::error!(error = ?cause, "subsonic request failed");
            "internal error".to_owned()
        }
        other => other.to_string(),
    };
    let mut node = Node::new("error").attr("code", error.code()).attr("message", message);
    if matches!(
        error,
        SubsonicError::Unsupported(_) | SubsonicError::InvalidApiKey | SubsonicError::WrongCredentials
    ) {
        node = node.attr("helpUrl", "https://github.com/mist/mist/blob/main/docs/subsonic.md");
    }
    envelope(format, "failed", Node::body().child(node), error.status())
}

fn envelope(format: &Format, status: &str, body: Node, http: StatusCode) -> Response {
    let mut root = Node::new("subsonic-response");
    if *format == Format::Xml {
        root = root.attr("xmlns", "http://subsonic.org/restapi");
    }
    root = root
        .attr("status", status)
        .attr("version", API_VERSION)
        .attr("type", SERVER_TYPE)
        .attr("serverVersion", SERVER_VERSION)
        .attr("openSubsonic", true);
    root.children = body.children;
    let (content_type, body) = match format {
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            root.write_xml("subsonic-response", &mut out);
            ("text/xml; charset=utf-8", out)
        }
        Format::Json | Format::Jsonp(_) => {
            let mut map = Map::new();
            map.insert("subsonic-response".to_owned(), Json::Object(root.to_json()));
            let json = Json::Object(map).to_string();
            match format {
                Format::Jsonp(callback) => ("application/javascript; charset=utf-8", format!("{callback}({json});")),
                _ => ("application/json; charset=utf-8", json),
            }
        }
    };
    let mut response = (http, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_plain_identifiers() {
        for good in ["cb", "jQuery123_456", "$.cb", "ns.sub.cb", "_x"] {
            assert!(safe_callback(good), "{good}");
        }
        for bad in [
            "",
            "1cb",
            "alert(1);cb",
            "cb</script>",
            "a b",
            "x..y",
            "x.",
            "cb\n",
            &"a".repeat(65),
        ] {
            assert!(!safe_callback(bad), "{bad:?}");
        }
    }

    #[test]
    fn xml_escapes_and_replaces_what_it_cannot_carry() {
        let mut out = String::new();
        escape_xml("a<b>&\"'\u{1}\u{7}z", &mut out);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}z");
    }

    #[test]
    fn one_tree_two_shapes() {
        let node = Node::new("album")
            .attr("id", "a1")
            .attr("songCount", 2i64)
            .list(
                "song",
                vec![Node::new("song").attr("id", "s1"), Node::new("song").attr("id", "s2")],
            )
            .values("versions", vec![Value::Int(1)]);
        let mut xml = String::new();
        node.write_xml("album", &mut xml);
        assert_eq!(
            xml,
            r#"<album id="a1" songCount="2"><song id="s1"/><song id="s2"/><versions>1</versions></album>"#
        );
        let json = Json::Object(node.to_json());
        assert_eq!(
            json,
            serde_json::json!({"id": "a1", "songCount": 2, "song": [{"id": "s1"}, {"id": "s2"}], "versions": [1]})
        );
    }
}
