//! KubeVela `Application` (`core.oam.dev/v1beta1`): components, traits, app-level policies.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ParseError, from_json_str, from_value};
use crate::identity::IdentityRule;
use crate::meta::{Meta, null_as_default};

/// The trait and policy type that declares an identity rule.
pub const IDENTITY_TYPE: &str = "identity";

/// A KubeVela Application.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Application {
    /// `metadata`.
    #[serde(default)]
    pub metadata: Meta,
    /// `spec`.
    #[serde(default)]
    pub spec: ApplicationSpec,
}

/// `spec` of an Application.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ApplicationSpec {
    /// `spec.components`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub components: Vec<Component>,
    /// `spec.policies`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<AppPolicy>,
    /// `spec.workflow`, as written: its steps may apply objects of their own.
    #[serde(default)]
    pub workflow: Option<Value>,
}

/// One component of an Application.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Component {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `type` (the ComponentDefinition).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `properties`, as written: `k8s-objects` and `raw` components embed objects here.
    #[serde(default)]
    pub properties: Option<Value>,
    /// `traits`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub traits: Vec<Trait>,
}

/// A trait attached to a component.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Trait {
    /// `type` (the TraitDefinition).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `properties`, as written.
    #[serde(default)]
    pub properties: Option<Value>,
    /// The identity rule, when this trait is of type `identity`.
    #[serde(skip)]
    pub identity: Option<IdentityRule>,
}

/// An app-level policy in `spec.policies`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AppPolicy {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `type` (the PolicyDefinition).
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `properties`, as written.
    #[serde(default)]
    pub properties: Option<Value>,
    /// The identity rule, when this policy is of type `identity`.
    #[serde(skip)]
    pub identity: Option<IdentityRule>,
}

/// Where a component's identity rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// Its own trait, at this index of `traits`.
    Trait(usize),
    /// The app-level policy at this index of `spec.policies`.
    Policy(usize),
}

impl IdentitySource {
    /// The JSON pointer of the rule within the Application.
    pub fn pointer(self, component: usize) -> String {
        match self {
            IdentitySource::Trait(t) => format!("/spec/components/{component}/traits/{t}"),
            IdentitySource::Policy(p) => format!("/spec/policies/{p}"),
        }
    }
}

impl Application {
    /// Parse an Application, reading every identity trait and policy; a wrong type names its path.
    pub fn from_value(value: &Value) -> Result<Self, ParseError> {
        from_value::<Self>(value)?.read_identities()
    }

    /// Parse an Application from JSON text, as [`Application::from_value`] does.
    pub fn from_json_str(json: &str) -> Result<Self, ParseError> {
        from_json_str::<Self>(json)?.read_identities()
    }

    /// Read the identity rule of every `identity` trait and policy.
    fn read_identities(mut self) -> Result<Self, ParseError> {
        for (i, component) in self.spec.components.iter_mut().enumerate() {
            for (j, t) in component.traits.iter_mut().enumerate() {
                if t.type_ == IDENTITY_TYPE {
                    let rule =
                        IdentityRule::from_properties(t.properties.as_ref()).map_err(|e| {
                            e.within(&format!("spec.components[{i}].traits[{j}].properties"))
                        })?;
                    t.identity = Some(rule);
                }
            }
        }
        for (i, p) in self.spec.policies.iter_mut().enumerate() {
            if p.type_ == IDENTITY_TYPE {
                let rule = IdentityRule::from_properties(p.properties.as_ref())
                    .map_err(|e| e.within(&format!("spec.policies[{i}].properties")))?;
                p.identity = Some(rule);
            }
        }
        Ok(self)
    }

    /// The app-wide identity policy, if any: the first `identity` entry of `spec.policies`.
    pub fn app_identity(&self) -> Option<(usize, &IdentityRule)> {
        self.spec
            .policies
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.identity.as_ref().map(|r| (i, r)))
    }

    /// The identity rule in force for component `index`: its own trait, else the app's policy.
    pub fn identity_of(&self, index: usize) -> Option<(IdentitySource, &IdentityRule)> {
        let component = self.spec.components.get(index)?;
        component
            .own_identity()
            .map(|(t, r)| (IdentitySource::Trait(t), r))
            .or_else(|| {
                self.app_identity()
                    .map(|(p, r)| (IdentitySource::Policy(p), r))
            })
    }

    /// The component with this name, with its index.
    pub fn component(&self, name: &str) -> Option<(usize, &Component)> {
        self.spec
            .components
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }
}

/// A trait type that exposes a route, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTrait {
    /// JSON pointer of the trait in the Application.
    pub path: String,
    /// The trait type.
    pub type_: String,
}

/// An object written inside the Application that KubeVela applies as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded<'a> {
    /// JSON pointer of the object in the Application.
    pub path: String,
    /// The component that carries it; `None` for a workflow step.
    pub component: Option<usize>,
    /// The object as written.
    pub value: &'a Value,
}

/// The policy type that patches components before they render.
pub const OVERRIDE_TYPE: &str = "override";

impl Application {
    /// The route traits of component `index` (types for which `is_route_trait` holds): its
    /// own, then those an `override` policy adds to it (by name, or to every component when
    /// the override names none). An override
    /// counts whether or not a workflow step uses it: exposure is assumed, never protection.
    pub fn route_traits_of(
        &self,
        index: usize,
        is_route_trait: impl Fn(&str) -> bool,
    ) -> Vec<RouteTrait> {
        let Some(component) = self.spec.components.get(index) else {
            return Vec::new();
        };
        let mut found: Vec<RouteTrait> = component
            .traits
            .iter()
            .enumerate()
            .filter(|(_, t)| is_route_trait(&t.type_))
            .map(|(j, t)| RouteTrait {
                path: format!("/spec/components/{index}/traits/{j}"),
                type_: t.type_.clone(),
            })
            .collect();
        for (p, policy) in self.spec.policies.iter().enumerate() {
            if policy.type_ != OVERRIDE_TYPE {
                continue;
            }
            let entries = policy
                .properties
                .as_ref()
                .and_then(|p| p.get("components"))
                .and_then(Value::as_array);
            for (c, entry) in entries.into_iter().flatten().enumerate() {
                let name = entry
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let type_ = entry
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !(name.is_empty() || name == component.name)
                    || !(type_.is_empty() || type_ == component.type_)
                {
                    continue;
                }
                let traits = entry.get("traits").and_then(Value::as_array);
                for (t, tr) in traits.into_iter().flatten().enumerate() {
                    let trait_type = tr.get("type").and_then(Value::as_str).unwrap_or_default();
                    let disabled = tr.get("disable").and_then(Value::as_bool) == Some(true);
                    if !disabled && is_route_trait(trait_type) {
                        found.push(RouteTrait {
                            path: format!(
                                "/spec/policies/{p}/properties/components/{c}/traits/{t}"
                            ),
                            type_: trait_type.to_string(),
                        });
                    }
                }
            }
        }
        found
    }

    /// Every object embedded in the app: `k8s-objects` components' `properties.objects`,
    /// `raw` components' properties, and `apply-object` workflow steps' `properties.value`
    /// (step groups included).
    pub fn embedded_objects(&self) -> Vec<Embedded<'_>> {
        let mut out = Vec::new();
        for (i, component) in self.spec.components.iter().enumerate() {
            let Some(props) = &component.properties else {
                continue;
            };
            match component.type_.as_str() {
                "k8s-objects" => {
                    let objects = props.get("objects").and_then(Value::as_array);
                    for (j, value) in objects.into_iter().flatten().enumerate() {
                        out.push(Embedded {
                            path: format!("/spec/components/{i}/properties/objects/{j}"),
                            component: Some(i),
                            value,
                        });
                    }
                }
                "raw" => out.push(Embedded {
                    path: format!("/spec/components/{i}/properties"),
                    component: Some(i),
                    value: props,
                }),
                _ => {}
            }
        }
        if let Some(steps) = self
            .spec
            .workflow
            .as_ref()
            .and_then(|w| w.get("steps"))
            .and_then(Value::as_array)
        {
            workflow_objects(steps, "/spec/workflow/steps", &mut out);
        }
        out
    }
}

/// Objects that `apply-object` steps apply, at any depth of step groups; iterative, so a
/// deep nesting costs no stack.
fn workflow_objects<'a>(steps: &'a [Value], base: &str, out: &mut Vec<Embedded<'a>>) {
    let mut pending: Vec<(String, &'a [Value])> = vec![(base.to_string(), steps)];
    while let Some((base, steps)) = pending.pop() {
        for (k, step) in steps.iter().enumerate() {
            if step.get("type").and_then(Value::as_str) == Some("apply-object")
                && let Some(value) = step.pointer("/properties/value")
            {
                out.push(Embedded {
                    path: format!("{base}/{k}/properties/value"),
                    component: None,
                    value,
                });
            }
            if let Some(sub) = step.get("subSteps").and_then(Value::as_array) {
                pending.push((format!("{base}/{k}/subSteps"), sub));
            }
        }
    }
}

impl Component {
    /// The component's own identity trait, with its index in `traits`.
    pub fn own_identity(&self) -> Option<(usize, &IdentityRule)> {
        self.traits
            .iter()
            .enumerate()
            .find_map(|(i, t)| t.identity.as_ref().map(|r| (i, r)))
    }

    /// The traits that expose routes, by the policy's list of route trait types, with their indices.
    pub fn route_traits<'a>(
        &'a self,
        route_trait_types: &'a [String],
    ) -> impl Iterator<Item = (usize, &'a Trait)> + 'a {
        self.traits
            .iter()
            .enumerate()
            .filter(move |(_, t)| route_trait_types.contains(&t.type_))
    }
}

impl Trait {
    /// `properties.<key>` when properties is an object.
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.properties.as_ref()?.as_object()?.get(key)
    }
}
