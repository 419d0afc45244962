//! The one error a typed view returns: what was wrong, and where.

/// A document that does not fit its typed view; `path` names the field (`spec.routes[0].match`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// Dotted path of the offending field, `.` for the document itself.
    pub path: String,
    /// What was wrong there.
    pub message: String,
}

impl ParseError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error seen from a parent field: `prefix` is put before the path.
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = if self.path == "." {
            prefix.to_string()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

/// Deserialize `T` from `value`, reporting a wrong type with the path of the field.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, ParseError> {
    // Tracking the path costs more than the parse itself, so only a failed parse pays it.
    T::deserialize(value).or_else(|_| {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ParseError::new(path, e.into_inner().to_string())
        })
    })
}

/// Deserialize `T` from JSON text, reporting a wrong type with the path of the field.
pub fn from_json_str<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, ParseError> {
    // As in `from_value`: the path is tracked only once the fast parse has failed.
    serde_json::from_str(json).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            ParseError::new(path, e.into_inner().to_string())
        })
    })
}
