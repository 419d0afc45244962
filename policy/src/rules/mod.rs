//! The rule set: one file per rule, named by its id, and the catalogue that
//! `kubectl oam-traefik rules` prints.

use serde::{Deserialize, Serialize};

use crate::config::Level;

/// What the catalogue says of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// The rule's id.
    pub id: RuleId,
    /// A short name.
    pub title: &'static str,
    /// What the rule rejects, in one line.
    pub rejects: &'static str,
    /// How to fix a violation.
    pub hint: &'static str,
    /// The level when the policy does not set one.
    pub default_level: Level,
}

/// Declares every rule once: its module (which holds its `INFO` and its decision), its
/// id, and so the enum, the catalogue and the id's spelling.
macro_rules! rules {
    ($($id:ident => $module:ident: $doc:literal,)+) => {
        $(pub(crate) mod $module;)+

        /// The stable id of a rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
        pub enum RuleId {
            $(#[doc = $doc] $id,)+
        }

        /// Every rule, in id order.
        pub const CATALOGUE: &[RuleInfo] = &[$($module::INFO,)+];

        impl RuleId {
            /// The id as written (`OT001`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$id => stringify!($id),)+
                }
            }
        }
    };
}

rules! {
    OT001 => ot001: "A component with a route trait and no identity rule.",
    OT002 => ot002: "An identity rule's issuer or audiences.",
    OT003 => ot003: "Overbroad scopes.",
    OT004 => ot004: "A middleware reference that does not resolve to one Middleware in the same namespace.",
    OT005 => ot005: "A referenced Middleware that does not authenticate.",
    OT006 => ot006: "A rogue endpoint: a Traefik route that nobody authenticates.",
    OT007 => ot007: "A break-glass annotation set by someone not allowed to.",
    OT008 => ot008: "An auth Middleware that routes depend on, made non-auth or deleted.",
    OT009 => ot009: "A `public` rule without reason or outside the public namespaces.",
    OT010 => ot010: "An identity rule without a version.",
    OT011 => ot011: "A Middleware under a name reserved for generated identity Middlewares.",
    OT012 => ot012: "A Middleware whose Traefik key another Middleware already has.",
}

impl RuleId {
    /// The catalogue entry of this rule.
    pub fn info(self) -> &'static RuleInfo {
        &CATALOGUE[self as usize]
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_in_id_order_and_complete() {
        for (i, info) in CATALOGUE.iter().enumerate() {
            assert_eq!(info.id as usize, i);
            assert_eq!(info.id.info().id, info.id);
            assert!(!info.hint.is_empty() && !info.rejects.is_empty());
        }
        assert_eq!(RuleId::OT010.info().default_level, Level::Warn);
    }
}
