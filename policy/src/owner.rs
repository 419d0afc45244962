//! Which app owns a route: KubeVela's labels, checked against the Application itself.

use crate::lookup::{Answer, Lookup};
use crate::meta::Meta;

/// Label with the owning Application's name.
pub const APP_NAME_LABEL: &str = "app.oam.dev/name";
/// Label with the owning Application's namespace.
pub const APP_NAMESPACE_LABEL: &str = "app.oam.dev/namespace";
/// Label with the owning component's name.
pub const COMPONENT_LABEL: &str = "app.oam.dev/component";

/// What the labels of a route say about its owner, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No KubeVela labels: nobody owns it.
    None,
    /// The labels name an app that cannot be looked up now.
    Unknown {
        /// App name from the labels.
        app: String,
    },
    /// The labels name an app that does not exist, or a component it lacks, or one without identity.
    NoIdentity {
        /// App name from the labels.
        app: String,
        /// Component name from the labels.
        component: String,
    },
    /// The owning component declares an identity rule.
    Identity {
        /// App name.
        app: String,
        /// Component name.
        component: String,
        /// The Middleware that enforces it.
        middleware: String,
        /// Whether the rule is `public`.
        public: bool,
    },
}

impl Owner {
    /// The owner of a route in `namespace` with this metadata.
    pub fn of(meta: &Meta, namespace: &str, lookup: &dyn Lookup) -> Owner {
        let Some(app) = meta.label(APP_NAME_LABEL).filter(|a| !a.is_empty()) else {
            return Owner::None;
        };
        let app_ns = meta.label(APP_NAMESPACE_LABEL).unwrap_or(namespace);
        let component = meta.label(COMPONENT_LABEL).unwrap_or_default();
        let no_identity = || Owner::NoIdentity {
            app: app.to_string(),
            component: component.to_string(),
        };
        let application = match lookup.application(app_ns, app) {
            Answer::Found(a) => a,
            Answer::Missing => return no_identity(),
            Answer::Unknown => {
                return Owner::Unknown {
                    app: app.to_string(),
                };
            }
        };
        let rule = match application.component(component) {
            Some((index, _)) => application.identity_of(index).map(|(_, r)| r),
            None => None,
        };
        match rule {
            Some(rule) => Owner::Identity {
                app: app.to_string(),
                component: component.to_string(),
                middleware: rule.middleware_name(app, component),
                public: rule.is_public(),
            },
            None => no_identity(),
        }
    }

    /// The name of the generated identity Middleware the labels point at, which KubeVela
    /// creates after admission and so is never reported missing.
    pub fn generated_middleware(meta: &Meta) -> Option<String> {
        let app = meta.label(APP_NAME_LABEL)?;
        let component = meta.label(COMPONENT_LABEL)?;
        Some(crate::naming::identity_middleware_name(app, component))
    }
}
