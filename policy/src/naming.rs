//! Names the way Traefik reads them.

/// Traefik's `provider.Normalize`: every run of characters other than letters and
/// digits becomes one `-`, and leading or trailing runs are dropped.
pub fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The reference an Ingress annotation uses for the Middleware `namespace/name`:
/// `<namespace>-<name>@kubernetescrd`, normalised.
pub fn ingress_middleware_ref(namespace: &str, name: &str) -> String {
    format!(
        "{}@kubernetescrd",
        normalize(&format!("{namespace}-{name}"))
    )
}

/// The key Traefik's CRD provider files the Middleware `namespace/name` under.
pub fn crd_key(namespace: &str, name: &str) -> String {
    normalize(&format!("{namespace}-{name}"))
}

/// Whether a Middleware name is reserved for generated identity Middlewares: its
/// Traefik-normalised form ends in `-identity`, as `<app>-<component>-identity` does.
pub fn is_reserved_identity_name(name: &str) -> bool {
    normalize(name).ends_with("-identity")
}

/// The generated identity Middleware of a component: `<app>-<component>-identity`.
pub fn identity_middleware_name(app: &str, component: &str) -> String {
    format!("{app}-{component}-identity")
}

/// Split `name@provider` into its parts; a name without `@` has no provider.
pub fn split_provider(reference: &str) -> (&str, Option<&str>) {
    match reference.rsplit_once('@') {
        Some((name, provider)) => (name, Some(provider)),
        None => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_runs_and_trims() {
        assert_eq!(normalize("shop.prod-orders_sso"), "shop-prod-orders-sso");
        assert_eq!(normalize("a..b__c"), "a-b-c");
        assert_eq!(normalize("-a-"), "a");
        assert_eq!(normalize("plain"), "plain");
    }

    #[test]
    fn ingress_reference_is_namespace_dash_name_at_crd() {
        assert_eq!(
            ingress_middleware_ref("shop.eu", "orders-sso"),
            "shop-eu-orders-sso@kubernetescrd"
        );
    }

    #[test]
    fn provider_split() {
        assert_eq!(split_provider("sso@file"), ("sso", Some("file")));
        assert_eq!(split_provider("sso"), ("sso", None));
    }
}
