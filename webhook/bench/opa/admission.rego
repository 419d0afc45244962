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

# The identity rule of each component (by index): its own identity trait, else the app's
# identity policy. Computed once per review.
rule_of := {i: rule |
	some i, c in components
	own := [object.get(t, "properties", {}) | some t in traits_of(c); t.type == "identity"]
	rule := array.concat(own, app_identities)[0]
}

app_identities := [object.get(p, "properties", {}) |
	some p in object.get(app, ["spec", "policies"], [])
	p.type == "identity"
]

# Every identity rule, with what a denial names it by (formatted only on a denial).
sites := array.concat(
	[{"what": "identity of component", "name": c.name, "rule": object.get(t, "properties", {})} |
		some c in components
		some t in traits_of(c)
		t.type == "identity"
	],
	[{"what": "identity policy", "name": p.name, "rule": object.get(p, "properties", {})} |
		some p in object.get(app, ["spec", "policies"], [])
		p.type == "identity"
	],
)

subject(site) := sprintf("%s %q", [site.what, site.name])

needs_issuer := {"oidc", "jwt"}

deny contains msg if {
	reviewed
	some i, c in components
	not rule_of[i]
	some t in traits_of(c)
	t.type in policy.routeTraits
	msg := sprintf("OT001 component %q: exposes a route through trait %q but declares no identity rule", [c.name, t.type])
}

deny contains msg if {
	reviewed
	some site in sites
	not site.rule.provider
	msg := sprintf("OT002 %s: declares no provider (oidc, jwt, basic, forward-auth or public)", [subject(site)])
}

deny contains msg if {
	reviewed
	some site in sites
	site.rule.provider in needs_issuer
	object.get(site.rule, "issuer", "") == ""
	msg := sprintf("OT002 %s: provider %s needs an issuer", [subject(site), site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	issuer := site.rule.issuer
	issuer != ""
	not regex.match(`^https://[^/?#]+`, issuer)
	msg := sprintf("OT002 %s: issuer %q is not an https:// URL with a host", [subject(site), issuer])
}

deny contains msg if {
	reviewed
	some site in sites
	issuer := site.rule.issuer
	regex.match(`^https://[^/?#]+`, issuer)
	count(policy.allowedIssuers) > 0
	not issuer_allowed(issuer)
	msg := sprintf("OT002 %s: issuer %q is not allowed (allowed: %s)", [subject(site), issuer, concat(", ", policy.allowedIssuers)])
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
	msg := sprintf("OT002 %s: provider %s needs `middleware:` naming the Middleware that enforces it", [subject(site), site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	some audience in object.get(site.rule, "audiences", [])
	wildcard_or_empty(audience)
	msg := sprintf("OT002 %s: audience %q would accept tokens meant for any service", [subject(site), audience])
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
	msg := sprintf("OT002 %s: provider %s needs at least one audience", [subject(site), site.rule.provider])
}

deny contains msg if {
	reviewed
	some site in sites
	some scope in object.get(site.rule, "scopes", [])
	contains(scope, "*")
	msg := sprintf("OT003 %s: scope %q is a wildcard", [subject(site), scope])
}

deny contains msg if {
	reviewed
	some site in sites
	some scope in object.get(site.rule, "scopes", [])
	not contains(scope, "*")
	scope in policy.deniedScopes
	msg := sprintf("OT003 %s: scope %q is denied by the policy", [subject(site), scope])
}

deny contains msg if {
	reviewed
	some site in sites
	n := count(object.get(site.rule, "scopes", []))
	n > policy.maxScopes
	msg := sprintf("OT003 %s: lists %d scopes, more than the maximum of %d", [subject(site), n, policy.maxScopes])
}

annotation := "traefik.ingress.kubernetes.io/router.middlewares"

# Traefik's reading of a name: every run of characters other than letters and digits is a `-`.
normalize(name) := trim(regex.replace(name, `[^A-Za-z0-9]+`, "-"), "-")

# The reference the component's gateway traits carry: a provider-qualified `middleware`
# as written, else the CRD reference of `middleware` or of the generated
# `<app>-<component>-identity`.
reference(c, rule) := rule.middleware if {
	contains(rule.middleware, "@")
} else := concat("", [normalize(concat("-", [namespace, middleware_name(c, rule)])), "@kubernetescrd"])

middleware_name(c, rule) := rule.middleware if {
	rule.middleware != ""
} else := concat("-", [app.metadata.name, c.name, "identity"])

namespace := object.get(app, ["metadata", "namespace"], request.namespace)

patch := [op |
	reviewed
	some i, c in components
	rule := rule_of[i]
	rule.provider != "public"
	some j, t in traits_of(c)
	t.type == "gateway"
	op := gateway_op(sprintf("/spec/components/%d/traits/%d/properties", [i, j]), object.get(t, "properties", null), reference(c, rule))
]

# The one operation that puts `ref` first into `router.middlewares` of a gateway trait's
# properties, whatever of that path exists yet; none when it is there already.
gateway_op(path, props, ref) := {"op": "add", "path": path, "value": {"annotations": {annotation: ref}}} if {
	props == null
} else := {"op": "add", "path": concat("", [path, "/annotations"]), "value": {annotation: ref}} if {
	object.get(props, "annotations", null) == null
} else := {"op": "add", "path": concat("", [path, "/annotations/", escaped_annotation]), "value": ref} if {
	object.get(props.annotations, annotation, null) == null
} else := {"op": "replace", "path": concat("", [path, "/annotations/", escaped_annotation]), "value": concat(",", array.concat([ref], entries))} if {
	entries := [e | some raw in split(props.annotations[annotation], ","); e := trim_space(raw); e != ""]
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
