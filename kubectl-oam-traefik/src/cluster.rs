//! The cluster: a client from the kubeconfig as kubectl reads it, and one paginated list
//! per kind for the namespace scope, never one per app.

use std::sync::Arc;

use anyhow::{Context, Result};
use futures::future::join_all;
use kube::api::{Api, DynamicObject, ListParams, TypeMeta};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use oam_traefik_policy::middleware::Middleware;
use oam_traefik_policy::{Answer, Application, Index, Lookup, Object, ObjectRef};
use serde_json::Value;

use crate::cli::ClusterArgs;

/// Items per list page, as kubectl asks for them.
const PAGE: u32 = 500;

/// A client and the namespace the context names.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The context's namespace (`default` when it names none).
    pub default_namespace: String,
}

/// Connect as kubectl would: `--kubeconfig`, else `$KUBECONFIG`/`~/.kube/config`, else in-cluster.
/// Exec credential plugins in the kubeconfig run as kubectl runs them.
pub async fn connect(args: &ClusterArgs) -> Result<Connection> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => match Config::from_kubeconfig(&options).await {
            Ok(config) => config,
            Err(kubeconfig_err) if args.context.is_none() => Config::incluster().map_err(|_| {
                anyhow::anyhow!(
                    "no cluster: {kubeconfig_err} (set --kubeconfig or KUBECONFIG, or run in a pod)"
                )
            })?,
            Err(e) => return Err(e).context("loading kubeconfig"),
        },
    };
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    Ok(Connection {
        client,
        default_namespace,
    })
}

/// Which namespaces to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// One namespace.
    Namespace(String),
}

/// A kind the plugin lists.
struct Resource {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// Served by few clusters (Traefik v2's group, Gateway API's TCP and TLS routes before
    /// v1.5): skipped without a note when absent.
    optional: bool,
}

const RESOURCES: [Resource; 16] = [
    Resource {
        group: "core.oam.dev",
        version: "v1beta1",
        kind: "Application",
        plural: "applications",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "traefik.io",
        version: "v1alpha1",
        kind: "IngressRoute",
        plural: "ingressroutes",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "traefik.io",
        version: "v1alpha1",
        kind: "Middleware",
        plural: "middlewares",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IngressClass",
        plural: "ingressclasses",
        namespaced: false,
        optional: false,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "Gateway",
        plural: "gateways",
        // Routes attach to Gateways in other namespaces: list them everywhere.
        namespaced: false,
        optional: false,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "GatewayClass",
        plural: "gatewayclasses",
        namespaced: false,
        optional: false,
    },
    Resource {
        group: "core.oam.dev",
        version: "v1beta1",
        kind: "TraitDefinition",
        plural: "traitdefinitions",
        // KubeVela reads an app's namespace, then its own: list them everywhere, so that
        // a trait known only by what its definition renders is seen as exposing a route.
        namespaced: false,
        optional: false,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "GRPCRoute",
        plural: "grpcroutes",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "TCPRoute",
        plural: "tcproutes",
        namespaced: true,
        optional: true,
    },
    Resource {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "TLSRoute",
        plural: "tlsroutes",
        namespaced: true,
        optional: true,
    },
    Resource {
        group: "traefik.io",
        version: "v1alpha1",
        kind: "IngressRouteTCP",
        plural: "ingressroutetcps",
        namespaced: true,
        optional: false,
    },
    Resource {
        group: "traefik.containo.us",
        version: "v1alpha1",
        kind: "IngressRoute",
        plural: "ingressroutes",
        namespaced: true,
        optional: true,
    },
    Resource {
        group: "traefik.containo.us",
        version: "v1alpha1",
        kind: "IngressRouteTCP",
        plural: "ingressroutetcps",
        namespaced: true,
        optional: true,
    },
    Resource {
        group: "traefik.containo.us",
        version: "v1alpha1",
        kind: "Middleware",
        plural: "middlewares",
        namespaced: true,
        optional: true,
    },
];

/// What the cluster holds in the scope: the objects the rules read and a lookup over them.
pub struct Snapshot {
    /// Applications, route objects and Middlewares, in list order.
    pub objects: Vec<Object>,
    /// Answers lookups; absence means `Missing` for kinds that were listed.
    pub lookup: ClusterLookup,
}

/// The index of a snapshot, honest about the kinds it could not list.
pub struct ClusterLookup {
    index: Index,
    /// Gateways could not be listed (forbidden): their classes are unknown, not missing.
    gateways_unknown: bool,
}

impl Lookup for ClusterLookup {
    fn middlewares_by_key(&self, key: &str) -> Answer<Vec<Arc<Middleware>>> {
        self.index.middlewares_by_key(key)
    }
    fn middleware(&self, namespace: &str, name: &str) -> Answer<Arc<Middleware>> {
        self.index.middleware(namespace, name)
    }
    fn application(&self, namespace: &str, name: &str) -> Answer<Arc<Application>> {
        self.index.application(namespace, name)
    }
    fn routes_using_middleware(&self, namespace: &str, name: &str) -> Answer<Vec<ObjectRef>> {
        self.index.routes_using_middleware(namespace, name)
    }
    fn ingress_class_controller(&self, name: &str) -> Answer<String> {
        self.index.ingress_class_controller(name)
    }
    fn gateway_class(&self, namespace: &str, name: &str) -> Answer<String> {
        match self.index.gateway_class(namespace, name) {
            Answer::Missing if self.gateways_unknown => Answer::Unknown,
            answer => answer,
        }
    }
    fn gateway_class_controller(&self, name: &str) -> Answer<String> {
        self.index.gateway_class_controller(name)
    }
    fn trait_renders_route(&self, name: &str) -> Answer<bool> {
        self.index.trait_renders_route(name)
    }
}

/// List every kind in `scope`, all kinds at once; a kind whose CRD is not installed is
/// skipped with a note on stderr.
pub async fn snapshot(client: &Client, scope: &Scope) -> Result<Snapshot> {
    let lists = join_all(RESOURCES.iter().map(|r| list(client, r, scope))).await;
    let mut index = Index::new(true);
    let mut objects = Vec::new();
    let mut gateways_unknown = false;
    for (resource, result) in RESOURCES.iter().zip(lists) {
        let items = match result {
            Ok(items) => items,
            Err(Skip::NotInstalled) if resource.optional => continue,
            Err(Skip::NotInstalled) => {
                eprintln!(
                    "note: {} ({}/{}) is not served by this cluster; skipped",
                    resource.kind, resource.group, resource.version
                );
                continue;
            }
            Err(Skip::Forbidden(message)) => {
                eprintln!("note: cannot list {}: {message}; skipped", resource.plural);
                gateways_unknown |= resource.kind == "Gateway";
                continue;
            }
            Err(Skip::Failed(e)) => {
                return Err(e).with_context(|| format!("listing {}", resource.plural));
            }
        };
        for value in items {
            match index.insert_value(&value, "") {
                Ok(parsed) => objects.extend(parsed),
                // One odd object must not hide every other route: say so and go on.
                Err(e) => eprintln!(
                    "note: {} {}/{} does not fit its schema ({e}); skipped",
                    resource.kind,
                    value
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("-"),
                    value
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                ),
            }
        }
    }
    Ok(Snapshot {
        objects,
        lookup: ClusterLookup {
            index,
            gateways_unknown,
        },
    })
}

enum Skip {
    NotInstalled,
    Forbidden(String),
    Failed(kube::Error),
}

/// One kind, every page, as JSON values with `apiVersion` and `kind` set.
async fn list(client: &Client, resource: &Resource, scope: &Scope) -> Result<Vec<Value>, Skip> {
    let gvk = GroupVersionKind::gvk(resource.group, resource.version, resource.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, resource.plural);
    let api: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) if resource.namespaced => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    let types = TypeMeta {
        api_version: ar.api_version.clone(),
        kind: ar.kind.clone(),
    };
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Skip::NotInstalled,
            kube::Error::Api(s) if s.code == 403 => Skip::Forbidden(s.message),
            e => Skip::Failed(e),
        })?;
        for mut item in page.items {
            item.types = Some(types.clone());
            match serde_json::to_value(&item) {
                Ok(v) => out.push(v),
                Err(e) => return Err(Skip::Failed(kube::Error::SerdeError(e))),
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}
