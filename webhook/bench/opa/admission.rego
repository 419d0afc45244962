# The peer of the webhook's side-by-side benchmark (webhook/scripts/side-by-side.sh): a
# Rego subset of oam-traefik's rules for Applications, served by `opa run --server` as an
# admission controller.
#
# OPA answers POST / (its default decision, data.system.main) with the value of `main`,
# taking the whole request body as `input`: the API server's AdmissionReview in, an
# AdmissionReview out, at the same POST body the webhook gets. The policy values come from
# webhook/bench/policy.yaml, loaded as data.oam_traefik (the webhook reads the same file).
#
# What it checks, for CREATE and UPDATE of core.oam.dev Applications outside the exempt
# namespaces:
#   OT001  a component with a route trait and no identity rule (its own identity trait,
#          or an app-level identity policy);
#   OT002  an identity rule without provider; oidc/jwt without an https:// issuer from
#          allowedIssuers or without an exact audience; a wildcard audience; basic or
#          forward-auth without `middleware`;
#   OT003  a wildcard scope, a denied scope, more than maxScopes;
# and, when nothing is denied, the patch: the component's identity Middleware reference
# put first into `router.middlewares` of each of its `gateway` traits' annotations, as
# the webhook's /mutate does. Left out (the webhook has them): OT004-OT012, the copy of an
# app-level identity policy onto components, embedded route objects, TraitDefinition
# lookups, break-glass.
package system

policy := data.oam_traefik.spec

main := {
	"apiVersion": object.get(input, "apiVersion", "admission.k8s.io/v1"),
	"kind": "AdmissionReview",
	"response": response,
}

request := input.request

app := request.object

reviewed if {
	request.kind.group == "core.oam.dev"
	request.kind.kind == "Application"
	request.operation in {"CREATE", "UPDATE"}
	not request.namespace in policy.exemptNamespaces
}

components := object.get(app, ["spec", "components"], [])

traits_of(c) := object.get(c, "traits", [])

identity_traits(c) := [object.get(t, "properties", {}) | some t in traits_of(c); t.type == "identity"]

app_identities := [object.get(p, "properties", {}) |
	some p in object.get(app, ["spec", "policies"], [])
	p.type == "identity"
]

# The identity rule of component c: its own, else the app's.
identity_of(c) := identity_traits(c)[0]

identity_of(c) := app_identities[0] if count(identity_traits(c)) == 0

# Every identity rule, with how a denial names it.
sites := array.concat(
	[{"subject": sprintf("component %q identity", [c.name]), "rule": object.get(t, "properties", {})} |
		some c in components
		some t in traits_of(c)
		t.type == "identity"
	],
	[{"subject": sprintf("policy %q", [p.name]), "rule": object.get(p, "properties", {})} |
		some p in object.get(app, ["spec", "policies"], [])
		p.type == "identity"
	],
)

needs_issuer := {"oidc", "jwt"}

deny contains msg if {
	reviewed
	some c in components
	not identity_of(c)
	some t in traits_of(c)
	t.type in policy.routeTraits
	msg := sprintf("OT001 component %q: exposes a route through trait %q but declares no identity rule", [c.name, t.type])
}

deny contains msg if {
	reviewed
	some site in sites
	not site.rule.provider
	msg := sprintf("OT002 %s: declares no provider (oidc, jwt, basic, forward-auth or public)", [site.subject])
}

deny contains msg if {
	reviewed
	some site in sites
	site.rule.provider in needs_issuer
	object.get(site.rule, "issuer", "") == ""
	msg := sprintf("OT002 %s: provider %s needs an issuer", [site.subject, site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	issuer := site.rule.issuer
	issuer != ""
	not regex.match(`^https://[^/?#]+`, issuer)
	msg := sprintf("OT002 %s: issuer %q is not an https:// URL with a host", [site.subject, issuer])
}

deny contains msg if {
	reviewed
	some site in sites
	issuer := site.rule.issuer
	regex.match(`^https://[^/?#]+`, issuer)
	count(policy.allowedIssuers) > 0
	not issuer_allowed(issuer)
	msg := sprintf("OT002 %s: issuer %q is not allowed (allowed: %s)", [site.subject, issuer, concat(", ", policy.allowedIssuers)])
}

issuer_allowed(issuer) if {
	some allowed in policy.allowedIssuers
	trim_right(issuer, "/") == trim_right(allowed, "/")
}

issuer_allowed(issuer) if {
	some allowed in policy.allowedIssuers
	endswith(allowed, "/")
	startswith(issuer, allowed)
}

deny contains msg if {
	reviewed
	some site in sites
	site.rule.provider in {"basic", "forward-auth"}
	trim_space(object.get(site.rule, "middleware", "")) == ""
	msg := sprintf("OT002 %s: provider %s needs `middleware:` naming the Middleware that enforces it", [site.subject, site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	some audience in object.get(site.rule, "audiences", [])
	wildcard_or_empty(audience)
	msg := sprintf("OT002 %s: audience %q would accept tokens meant for any service", [site.subject, audience])
}

wildcard_or_empty(a) if contains(a, "*")

wildcard_or_empty(a) if trim_space(a) == ""

deny contains msg if {
	reviewed
	some site in sites
	site.rule.provider in needs_issuer
	every audience in object.get(site.rule, "audiences", []) {
		trim_space(audience) == ""
	}
	msg := sprintf("OT002 %s: provider %s needs at least one audience", [site.subject, site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	some scope in object.get(site.rule, "scopes", [])
	contains(scope, "*")
	msg := sprintf("OT003 %s: scope %q is a wildcard", [site.subject, scope])
}

deny contains msg if {
	reviewed
	some site in sites
	some scope in object.get(site.rule, "scopes", [])
	not contains(scope, "*")
	scope in policy.deniedScopes
	msg := sprintf("OT003 %s: scope %q is denied by the policy", [site.subject, scope])
}

deny contains msg if {
	reviewed
	some site in sites
	n := count(object.get(site.rule, "scopes", []))
	n > policy.maxScopes
	msg := sprintf("OT003 %s: lists %d scopes, more than the maximum of %d", [site.subject, n, policy.maxScopes])
}

annotation := "traefik.ingress.kubernetes.io/router.middlewares"

# Traefik's reading of a name: every run of characters other than letters and digits is a `-`.
normalize(name) := trim(regex.replace(name, `[^A-Za-z0-9]+`, "-"), "-")

reference(c, rule) := rule.middleware if contains(object.get(rule, "middleware", ""), "@")

reference(c, rule) := sprintf("%s@kubernetescrd", [normalize(sprintf("%s-%s", [namespace, middleware_name(c, rule)]))]) if {
	not contains(object.get(rule, "middleware", ""), "@")
}

middleware_name(c, rule) := rule.middleware if object.get(rule, "middleware", "") != ""

middleware_name(c, rule) := sprintf("%s-%s-identity", [app.metadata.name, c.name]) if {
	object.get(rule, "middleware", "") == ""
}

namespace := object.get(app, ["metadata", "namespace"], request.namespace)

patch := [op |
	reviewed
	some i, c in components
	rule := identity_of(c)
	rule.provider != "public"
	some j, t in traits_of(c)
	t.type == "gateway"
	op := gateway_op(sprintf("/spec/components/%d/traits/%d/properties", [i, j]), object.get(t, "properties", null), reference(c, rule))
]

gateway_op(path, props, ref) := {"op": "add", "path": path, "value": {"annotations": {annotation: ref}}} if props == null

gateway_op(path, props, ref) := {"op": "add", "path": concat("", [path, "/annotations"]), "value": {annotation: ref}} if {
	props != null
	object.get(props, "annotations", null) == null
}

gateway_op(path, props, ref) := {"op": "add", "path": concat("", [path, "/annotations/", escaped_annotation]), "value": ref} if {
	props.annotations != null
	object.get(props.annotations, annotation, null) == null
}

gateway_op(path, props, ref) := {"op": "replace", "path": concat("", [path, "/annotations/", escaped_annotation]), "value": concat(",", array.concat([ref], entries))} if {
	existing := props.annotations[annotation]
	entries := [e | some raw in split(existing, ","); e := trim_space(raw); e != ""]
	not ref in entries
}

escaped_annotation := replace(annotation, "/", "~1")

response := {"uid": request.uid, "allowed": false, "status": {
	"status": "Failure",
	"code": 403,
	"reason": "Forbidden",
	"message": concat("; ", sort(deny)),
}} if count(deny) > 0

response := {"uid": request.uid, "allowed": true, "patchType": "JSONPatch", "patch": base64.encode(json.marshal(patch))} if {
	count(deny) == 0
	count(patch) > 0
}

response := {"uid": request.uid, "allowed": true} if {
	count(deny) == 0
	count(patch) == 0
}
