//! In-cluster TLS without cert-manager: the webhook keeps a CA and a serving certificate
//! for its Service in a Secret (made if absent, renewed at two thirds of its lifetime),
//! serves it, and writes the CA into its own webhook configurations' `caBundle`.
//! Replicas share the Secret; a conflict on write means another replica won, so re-read.
//!
//! A renewal never fails an admission: the new CA is published in `caBundle` next to the
//! old one, and only [`PUBLISH_GRACE`] after that is the new certificate served; the old CA
//! leaves the bundle once every replica serves the new certificate ([`drop_old_after`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::certs;
use crate::tls::{self, CertResolver};

/// Lifetime of a CA and serving certificate made here.
pub const LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Annotation with the certificate's notBefore, in Unix seconds.
pub const NOT_BEFORE: &str = "oam-traefik.io/not-before";
/// Annotation with the certificate's notAfter, in Unix seconds.
pub const NOT_AFTER: &str = "oam-traefik.io/not-after";
/// Annotation with the DNS names the certificate covers, comma-separated.
pub const DNS_NAMES: &str = "oam-traefik.io/dns-names";

/// How long the API server may take to use a `caBundle` just written (it reads webhook
/// configurations through a watch) before a certificate of the new CA is served.
pub const PUBLISH_GRACE: Duration = Duration::from_secs(5);

/// How long after a renewal the old CA stays in `caBundle`: long enough for every replica
/// to have seen the new Secret (one check) and waited [`PUBLISH_GRACE`], twice over.
pub fn drop_old_after(check_every: Duration) -> Duration {
    (check_every + PUBLISH_GRACE) * 2
}

/// Where the certificate lives and whom to tell about its CA.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// Namespace of the Secret (the webhook's own).
    pub namespace: String,
    /// Name of the Secret.
    pub secret: String,
    /// DNS names of the Service.
    pub dns_names: Vec<String>,
    /// MutatingWebhookConfiguration to keep current.
    pub mutating: Option<String>,
    /// ValidatingWebhookConfiguration to keep current.
    pub validating: Option<String>,
    /// How often the Secret and the caBundles are checked.
    pub check_every: Duration,
}

/// PEM contents of the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// CA certificate(s): the current CA, then the previous one during a rotation.
    pub ca: String,
    /// Serving certificate.
    pub cert: String,
    /// Serving key.
    pub key: String,
}

impl SelfSigned {
    /// Parse `NAMESPACE/NAME`, `MUTATING,VALIDATING` and the Service name.
    pub fn new(secret: &str, service: &str, configurations: Option<&str>) -> anyhow::Result<Self> {
        let Some((namespace, name)) = secret.split_once('/') else {
            bail!("--self-signed-secret must be NAMESPACE/NAME, got {secret:?}");
        };
        if namespace.is_empty() || name.is_empty() || service.is_empty() {
            bail!("--self-signed-secret needs a namespace and a name, and --service-name a name");
        }
        let (mutating, validating) = match configurations {
            None => (None, None),
            Some(list) => match list.split_once(',') {
                Some((m, v)) => (
                    Some(m.trim().to_string()).filter(|s| !s.is_empty()),
                    Some(v.trim().to_string()).filter(|s| !s.is_empty()),
                ),
                None => bail!("--webhook-configurations must be MUTATING_NAME,VALIDATING_NAME"),
            },
        };
        Ok(Self {
            namespace: namespace.to_string(),
            secret: name.to_string(),
            dns_names: service_dns_names(service, namespace),
            mutating,
            validating,
            check_every: Duration::from_secs(60),
        })
    }

    /// Read the Secret; make or renew it when needed. Returns what is to be served.
    pub async fn ensure(&self, client: &kube::Client) -> anyhow::Result<Material> {
        let api: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        for _ in 0..5 {
            let existing = api
                .get_opt(&self.secret)
                .await
                .with_context(|| format!("reading Secret {}/{}", self.namespace, self.secret))?;
            let now = unix_now();
            if let Some(secret) = &existing
                && let Some(material) = usable(secret, &self.dns_names, now)
            {
                let renewed_at = annotation_secs(secret, NOT_BEFORE).unwrap_or(0);
                let drop_at = renewed_at + drop_old_after(self.check_every).as_secs();
                if split_pems(&material.ca) < 2 || now < drop_at {
                    return Ok(material);
                }
                // Every replica serves the new certificate by now: the old CA can go.
                let current = Material {
                    ca: first_pem(&material.ca),
                    ..material
                };
                let mut secret = secret.clone();
                secret.data.get_or_insert_with(Default::default).insert(
                    "ca.crt".to_string(),
                    ByteString(current.ca.clone().into_bytes()),
                );
                match api
                    .replace(&self.secret, &PostParams::default(), &secret)
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %format!("{}/{}", self.namespace, self.secret), "old CA dropped from the Secret; it leaves caBundle next");
                        return Ok(current);
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("writing Secret {}/{}", self.namespace, self.secret)
                        });
                    }
                }
            }
            let previous_ca = existing.as_ref().and_then(|s| field(s, "ca.crt"));
            let bundle = certs::issue(&self.dns_names, LIFETIME).context("making a certificate")?;
            let ca = match previous_ca {
                // Trust both CAs while replicas and the API server catch up.
                Some(old) => format!("{}{}", bundle.ca_pem, first_pem(&old)),
                None => bundle.ca_pem.clone(),
            };
            let material = Material {
                ca,
                cert: bundle.cert_pem,
                key: bundle.key_pem,
            };
            let mut secret = self.secret_object(&material, now);
            let written = match existing {
                None => api.create(&PostParams::default(), &secret).await,
                Some(old) => {
                    secret.metadata.resource_version = old.metadata.resource_version;
                    api.replace(&self.secret, &PostParams::default(), &secret)
                        .await
                }
            };
            match written {
                Ok(_) => {
                    tracing::info!(secret = %format!("{}/{}", self.namespace, self.secret), "serving certificate written");
                    return Ok(material);
                }
                // Another replica wrote it first: use theirs.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("writing Secret {}/{}", self.namespace, self.secret)
                    });
                }
            }
        }
        bail!(
            "Secret {}/{} keeps changing under us",
            self.namespace,
            self.secret
        )
    }

    fn secret_object(&self, m: &Material, now: u64) -> Secret {
        let data = BTreeMap::from([
            ("ca.crt".to_string(), ByteString(m.ca.clone().into_bytes())),
            (
                "tls.crt".to_string(),
                ByteString(m.cert.clone().into_bytes()),
            ),
            (
                "tls.key".to_string(),
                ByteString(m.key.clone().into_bytes()),
            ),
        ]);
        let annotations = BTreeMap::from([
            (NOT_BEFORE.to_string(), now.to_string()),
            (
                NOT_AFTER.to_string(),
                (now + LIFETIME.as_secs()).to_string(),
            ),
            (DNS_NAMES.to_string(), self.dns_names.join(",")),
        ]);
        Secret {
            metadata: ObjectMeta {
                name: Some(self.secret.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(annotations),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "oam-traefik-webhook".to_string(),
                )])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_string()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Write `ca` into the caBundle of every webhook of both configurations, if it differs.
    pub async fn patch_ca_bundles(&self, client: &kube::Client, ca: &str) -> anyhow::Result<()> {
        if let Some(name) = &self.mutating {
            let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
            sync_bundle(&api, name, ca, |c| {
                let webhooks = c.webhooks.unwrap_or_default().into_iter();
                webhooks
                    .map(|w| (w.name, w.client_config.ca_bundle))
                    .collect()
            })
            .await?;
        }
        if let Some(name) = &self.validating {
            let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
            sync_bundle(&api, name, ca, |c| {
                let webhooks = c.webhooks.unwrap_or_default().into_iter();
                webhooks
                    .map(|w| (w.name, w.client_config.ca_bundle))
                    .collect()
            })
            .await?;
        }
        Ok(())
    }

    /// Keep the Secret, the served certificate and the caBundles current, every `check_every`.
    /// A new certificate is served only once `caBundle` trusts its CA (and [`PUBLISH_GRACE`] later).
    pub async fn maintain(
        self,
        client: kube::Client,
        resolver: Arc<CertResolver>,
        mut served: Material,
    ) {
        let mut tick = tokio::time::interval(self.check_every.max(Duration::from_secs(1)));
        tick.tick().await;
        // Set while caBundle could not be written, so the failure is logged once per run.
        let mut failing = false;
        loop {
            let published = self.patch_ca_bundles(&client, &served.ca).await;
            log_publish(&published, &mut failing);
            tick.tick().await;
            let m = match self.ensure(&client).await {
                Ok(m) if m != served => m,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(
                        secret = %format!("{}/{}", self.namespace, self.secret),
                        error = format!("{e:#}"),
                        "certificate Secret not checked; will retry"
                    );
                    continue;
                }
            };
            let pair = match tls::pair_from_pem(m.cert.as_bytes(), m.key.as_bytes()) {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!(
                        secret = %format!("{}/{}", self.namespace, self.secret),
                        error = %e,
                        "the Secret's certificate cannot be served; keeping the current one"
                    );
                    continue;
                }
            };
            // The caBundle first: until the API server trusts the new CA, the old certificate stays.
            let published = self.patch_ca_bundles(&client, &m.ca).await;
            log_publish(&published, &mut failing);
            if published.is_err() {
                continue;
            }
            if m.cert != served.cert {
                tracing::info!(
                    grace_seconds = PUBLISH_GRACE.as_secs(),
                    cas = split_pems(&m.ca),
                    "caBundle trusts the renewed certificate's CA; serving it after the grace period"
                );
                tokio::time::sleep(PUBLISH_GRACE).await;
                resolver.replace(pair);
                tracing::info!("serving the renewed certificate");
            } else {
                tracing::info!(
                    cas = split_pems(&m.ca),
                    "caBundle now trusts the current CA only"
                );
            }
            served = m;
        }
    }
}

/// Log a failed caBundle update once per run of failures, and its end.
fn log_publish(result: &anyhow::Result<()>, failing: &mut bool) {
    match result {
        Ok(()) if *failing => {
            tracing::info!("caBundle updated again");
            *failing = false;
        }
        Ok(()) => {}
        Err(e) if !*failing => {
            tracing::warn!(error = format!("{e:#}"), "caBundle not updated; will retry");
            *failing = true;
        }
        Err(_) => {}
    }
}

/// JSON-patch the caBundle of each webhook whose bundle differs; `test` guards the index.
/// Read webhook configuration `name` and bring its caBundles to `ca`; `bundles` lists its
/// webhooks' names and current caBundles (the two configuration kinds hold them alike).
async fn sync_bundle<K>(
    api: &Api<K>,
    name: &str,
    ca: &str,
    bundles: impl FnOnce(K) -> Vec<(String, Option<ByteString>)>,
) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let found = api
        .get_opt(name)
        .await
        .with_context(|| format!("reading {kind} {name}"))?;
    match found {
        Some(configuration) => patch_bundle(api, name, &bundles(configuration), ca).await,
        None => {
            tracing::warn!(
                kind = %kind,
                configuration = %name,
                "webhook configuration not found; will retry"
            );
            Ok(())
        }
    }
}

async fn patch_bundle<K>(
    api: &Api<K>,
    name: &str,
    webhooks: &[(String, Option<ByteString>)],
    ca: &str,
) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut ops = Vec::new();
    for (i, (webhook, bundle)) in webhooks.iter().enumerate() {
        if bundle.as_ref().map(|b| b.0.as_slice()) == Some(ca.as_bytes()) {
            continue;
        }
        ops.push(json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook}));
        ops.push(json!({
            "op": "add",
            "path": format!("/webhooks/{i}/clientConfig/caBundle"),
            "value": ByteString(ca.as_bytes().to_vec()),
        }));
    }
    if ops.is_empty() {
        return Ok(());
    }
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))?;
    api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .with_context(|| format!("patching caBundle of {name}"))?;
    tracing::info!(configuration = %name, "caBundle updated");
    Ok(())
}

/// An annotation of the Secret holding Unix seconds.
fn annotation_secs(secret: &Secret, key: &str) -> Option<u64> {
    secret.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// How many certificates a PEM bundle holds.
fn split_pems(pem: &str) -> usize {
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

/// The Secret's material, if complete, for `dns_names`, and not yet due for renewal.
fn usable(secret: &Secret, dns_names: &[String], now: u64) -> Option<Material> {
    let annotation = |k: &str| secret.metadata.annotations.as_ref()?.get(k).cloned();
    let not_before = annotation_secs(secret, NOT_BEFORE)?;
    let not_after = annotation_secs(secret, NOT_AFTER)?;
    if annotation(DNS_NAMES)? != dns_names.join(",") || due(not_before, not_after, now) {
        return None;
    }
    let m = Material {
        ca: field(secret, "ca.crt")?,
        cert: field(secret, "tls.crt")?,
        key: field(secret, "tls.key")?,
    };
    tls::pair_from_pem(m.cert.as_bytes(), m.key.as_bytes()).ok()?;
    Some(m)
}

/// Whether a certificate valid from `not_before` to `not_after` is due for renewal at `now`:
/// at two thirds of its lifetime, or when the dates make no sense.
pub fn due(not_before: u64, not_after: u64, now: u64) -> bool {
    if not_after <= not_before {
        return true;
    }
    now >= not_before + (not_after - not_before) * 2 / 3
}

fn field(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone())
        .ok()
        .filter(|s| !s.is_empty())
}

/// The first PEM block of `pem` (the current CA of a bundle).
fn first_pem(pem: &str) -> String {
    const END: &str = "-----END CERTIFICATE-----";
    match pem.find(END) {
        Some(i) => format!("{}\n", &pem[..i + END.len()]),
        None => pem.to_string(),
    }
}

/// The names a Service answers to inside the cluster.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        assert!(!due(0, 300, 199));
        assert!(due(0, 300, 200));
        assert!(due(100, 100, 100));
    }

    #[test]
    fn arguments_are_checked() {
        let s = SelfSigned::new("oam/webhook-tls", "oam-traefik", Some("m,v")).expect("valid");
        assert_eq!(s.dns_names[2], "oam-traefik.oam.svc");
        assert_eq!(s.mutating.as_deref(), Some("m"));
        assert!(SelfSigned::new("webhook-tls", "svc", None).is_err());
        assert!(SelfSigned::new("oam/webhook-tls", "svc", Some("only-one")).is_err());
    }

    #[test]
    fn a_complete_fresh_secret_is_used_and_a_stale_one_is_not() {
        let s = SelfSigned::new("oam/tls", "svc", None).expect("valid");
        let b = certs::issue(&s.dns_names, LIFETIME).expect("issue");
        let m = Material {
            ca: b.ca_pem,
            cert: b.cert_pem,
            key: b.key_pem,
        };
        let secret = s.secret_object(&m, 1000);
        assert_eq!(usable(&secret, &s.dns_names, 1001), Some(m));
        assert_eq!(
            usable(&secret, &s.dns_names, 1000 + LIFETIME.as_secs()),
            None
        );
        let other = service_dns_names("other", "oam");
        assert_eq!(
            usable(&secret, &other, 1001),
            None,
            "new service name: reissue"
        );
    }
}
