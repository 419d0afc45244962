//! The rule set: one file per rule, named by its id, and the catalogue that
//! `kubectl oam-traefik rules` prints.

pub(crate) mod ot001;
pub(crate) mod ot002;
pub(crate) mod ot003;
pub(crate) mod ot004;
pub(crate) mod ot005;
pub(crate) mod ot006;
pub(crate) mod ot007;
pub(crate) mod ot008;
pub(crate) mod ot009;
pub(crate) mod ot010;

use serde::{Deserialize, Serialize};

use crate::config::Level;

/// The stable id of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum RuleId {
    /// A component with a route trait and no identity rule.
    OT001,
    /// An identity rule's issuer or audiences.
    OT002,
    /// Overbroad scopes.
    OT003,
    /// A middleware reference to another namespace or to nothing.
    OT004,
    /// A referenced Middleware that does not authenticate.
    OT005,
    /// A rogue endpoint: a Traefik route that nobody authenticates.
    OT006,
    /// A break-glass annotation set by someone not allowed to.
    OT007,
    /// An auth Middleware that routes depend on, made non-auth or deleted.
    OT008,
    /// A `public` rule without reason or outside the public namespaces.
    OT009,
    /// An identity rule without a version.
    OT010,
}

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

/// Every rule, in id order.
pub const CATALOGUE: [RuleInfo; 10] = [
    ot001::INFO,
    ot002::INFO,
    ot003::INFO,
    ot004::INFO,
    ot005::INFO,
    ot006::INFO,
    ot007::INFO,
    ot008::INFO,
    ot009::INFO,
    ot010::INFO,
];

impl RuleId {
    /// The catalogue entry of this rule.
    pub fn info(self) -> &'static RuleInfo {
        &CATALOGUE[self as usize]
    }

    /// The id as written (`OT001`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::OT001 => "OT001",
            RuleId::OT002 => "OT002",
            RuleId::OT003 => "OT003",
            RuleId::OT004 => "OT004",
            RuleId::OT005 => "OT005",
            RuleId::OT006 => "OT006",
            RuleId::OT007 => "OT007",
            RuleId::OT008 => "OT008",
            RuleId::OT009 => "OT009",
            RuleId::OT010 => "OT010",
        }
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
