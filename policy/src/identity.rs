//! The identity rule: who may reach a component's routes.

use serde::{Deserialize, Serialize};

/// How callers prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// OpenID Connect; needs `issuer` and `audiences`.
    Oidc,
    /// Bearer JWTs; needs `issuer` and `audiences`.
    Jwt,
    /// HTTP basic authentication.
    Basic,
    /// An external auth service decides (Traefik `forwardAuth`).
    ForwardAuth,
    /// Deliberately public: needs a `reason` and a namespace allowed to publish.
    Public,
}

impl Provider {
    /// Whether this provider identifies callers by tokens from an issuer.
    pub fn needs_issuer(self) -> bool {
        matches!(self, Provider::Oidc | Provider::Jwt)
    }

    /// The provider's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Oidc => "oidc",
            Provider::Jwt => "jwt",
            Provider::Basic => "basic",
            Provider::ForwardAuth => "forward-auth",
            Provider::Public => "public",
        }
    }
}

/// The properties of an `identity` trait or policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityRule {
    /// Schema version of the rule (`v1`); missing is OT010.
    #[serde(default)]
    pub version: Option<String>,
    /// How callers authenticate; missing is OT002.
    #[serde(default)]
    pub provider: Option<Provider>,
    /// Token issuer URL (oidc, jwt).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted token audiences.
    #[serde(default, deserialize_with = "crate::meta::null_as_default")]
    pub audiences: Vec<String>,
    /// Scopes a caller must hold.
    #[serde(default, deserialize_with = "crate::meta::null_as_default")]
    pub scopes: Vec<String>,
    /// Groups a caller must belong to.
    #[serde(default, deserialize_with = "crate::meta::null_as_default")]
    pub groups: Vec<String>,
    /// An existing auth Middleware in the app's namespace to use instead of the generated one.
    #[serde(default)]
    pub middleware: Option<String>,
    /// Why a `public` route is public.
    #[serde(default)]
    pub reason: Option<String>,
}

impl IdentityRule {
    /// Read a rule from trait or policy `properties` (absent properties are an empty rule).
    pub fn from_properties(
        properties: Option<&serde_json::Value>,
    ) -> Result<Self, crate::ParseError> {
        match properties {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(v) => crate::error::from_value(v),
        }
    }

    /// Whether the rule opens the route to everyone.
    pub fn is_public(&self) -> bool {
        self.provider == Some(Provider::Public)
    }

    /// The Middleware that enforces this rule for `app`/`component`: the one named, or the generated one.
    pub fn middleware_name(&self, app: &str, component: &str) -> String {
        match self.middleware.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => m.to_string(),
            None => crate::naming::identity_middleware_name(app, component),
        }
    }
}
