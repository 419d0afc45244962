//! `--self-test NAMESPACE`, what the chart's `helm test` runs in the webhook's own image (no
//! shell, no kubectl): a server-side dry-run create of a Traefik Ingress that declares no
//! identity, sent through the API server, which the validating webhook must refuse.

use anyhow::{Context, bail};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};

/// The name of the validating webhook in the chart's configuration.
pub const VALIDATING_WEBHOOK: &str = "validate.oam-traefik.io";

/// The route sent: class `traefik`, one backend, no middleware, owned by no app.
fn route(namespace: &str) -> anyhow::Result<Ingress> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "oam-traefik-self-test", "namespace": namespace},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [{"host": "self-test.invalid", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "self-test", "port": {"number": 80}}}
            }]}}]
        }
    }))
    .context("building the test Ingress")
}

/// Sends the dry run; `Ok` with the API server's denial message when the webhook refused
/// it, an error saying what happened otherwise (admitted, or the webhook not called).
pub async fn run(client: kube::Client, namespace: &str) -> anyhow::Result<String> {
    let api: Api<Ingress> = Api::namespaced(client, namespace);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match api.create(&params, &route(namespace)?).await {
        Ok(_) => bail!(
            "an Ingress with no identity was admitted in namespace {namespace} (dry run): \
             {VALIDATING_WEBHOOK} is not enforcing there (not registered, the namespace \
             exempt, or failurePolicy Ignore with the webhook down)"
        ),
        Err(kube::Error::Api(status))
            if status.message.contains(&format!(
                "admission webhook \"{VALIDATING_WEBHOOK}\" denied the request"
            )) =>
        {
            Ok(status.message)
        }
        Err(e) => Err(anyhow::Error::new(e)).context(format!(
            "the dry run in namespace {namespace} was not answered by {VALIDATING_WEBHOOK}"
        )),
    }
}
