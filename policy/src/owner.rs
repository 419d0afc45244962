//! Which app owns a route. KubeVela's labels are only a claim: a route counts as rendered
//! for an app when a trusted controller (KubeVela's service account, from the policy)
//! wrote it in the app's own namespace, and the app exists with that component.

use crate::config::Policy;
use crate::evaluate::Requester;
use crate::lookup::{Answer, Lookup};
use crate::meta::Meta;

/// Label with the owning Application's name.
pub const APP_NAME_LABEL: &str = "app.oam.dev/name";
/// Label with the owning Application's namespace.
pub const APP_NAMESPACE_LABEL: &str = "app.oam.dev/namespace";
/// Label with the owning component's name.
pub const COMPONENT_LABEL: &str = "app.oam.dev/component";

/// Who wrote the object, as far as the caller knows.
#[derive(Debug, Clone, Copy)]
pub enum Writer<'a> {
    /// The admission request's user: ownership must be proven by it.
    Requester(&'a Requester),
    /// A stored object shown by the plugin: the webhook proved its claim when it was written.
    Admitted,
}

/// What a route's labels claim about its owner, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No KubeVela labels: nobody owns it.
    None,
    /// The labels name an app, but the writer is not a trusted controller, or the app lives
    /// in another namespace: the claim is ignored.
    Unproven {
        /// App name from the labels.
        app: String,
        /// Why the claim does not count.
        why: String,
    },
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
    /// The owner of a route in `namespace` with this metadata, written by `writer`.
    pub fn of(
        meta: &Meta,
        namespace: &str,
        writer: Writer<'_>,
        policy: &Policy,
        lookup: &dyn Lookup,
    ) -> Owner {
        let Some(app) = meta.label(APP_NAME_LABEL).filter(|a| !a.is_empty()) else {
            return Owner::None;
        };
        let app_ns = meta.label(APP_NAMESPACE_LABEL).unwrap_or(namespace);
        if app_ns != namespace {
            return Owner::Unproven {
                app: app.to_string(),
                why: format!("its labels name an app in namespace {app_ns:?}, not its own"),
            };
        }
        if let Writer::Requester(r) = writer
            && !policy.is_trusted_controller(&r.username)
        {
            return Owner::Unproven {
                app: app.to_string(),
                why: format!(
                    "its labels name app {app:?}, but only a trusted controller's writes prove that (written by {:?})",
                    r.username
                ),
            };
        }
        let component = meta.label(COMPONENT_LABEL).unwrap_or_default();
        let no_identity = || Owner::NoIdentity {
            app: app.to_string(),
            component: component.to_string(),
        };
        let application = match lookup.application(namespace, app) {
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

    /// The generated identity Middleware of a proven owner, which KubeVela creates with
    /// the route and so may not exist yet when the route is admitted.
    pub fn pending_middleware(&self) -> Option<&str> {
        match self {
            Owner::Identity {
                app,
                component,
                middleware,
                public: false,
            } if *middleware == crate::naming::identity_middleware_name(app, component) => {
                Some(middleware)
            }
            _ => None,
        }
    }
}
