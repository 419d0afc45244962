//! The request path through real parts: an Application admitted and patched by the real
//! webhook; its Service, Ingress and identity Middleware rendered by KubeVela's real
//! controller (vela-core) and admitted as its ServiceAccount's writes; a real Traefik
//! watching the real kube-apiserver; the real `oam-traefik-auth` as its
//! forwardAuth; a real OpenID provider (ory/hydra) issuing RS256 JWT access tokens; and a
//! backend that echoes what it received. Then real HTTP requests through Traefik.
//!
//! No kubelet runs: the Service vela-core renders gets an EndpointSlice that points at
//! this machine's own address, where the backend listens.
//!
//! One test function shares the expensive parts (two hydras, Traefik, the verifier, the
//! webhook, vela-core) across its cases, which run in order.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use oam_traefik_e2e::backend::{self, HttpServer, Response};
use oam_traefik_e2e::hydra::{Hydra, HydraConfig, OAuthClient, jwt_parts};
use oam_traefik_e2e::kubevela::VelaCore;
use oam_traefik_e2e::traefik::Traefik;
use oam_traefik_e2e::verifier::Verifier;
use oam_traefik_e2e::{ControlPlane, Kubectl, Webhook, endpoints};
use serde_json::{Value, json};

const APP: &str = "orders";
const COMPONENT: &str = "api";
const HOST: &str = "orders.example.test";
/// A route whose Middleware was written by hand to name an issuer the policy does not allow.
const HANDMADE_HOST: &str = "handmade.example.test";
const MIDDLEWARES: &str = "traefik.ingress.kubernetes.io/router.middlewares";

/// Clock skew the verifier allows (`--leeway`): small, so that an expired token is
/// refused within seconds.
const LEEWAY: u64 = 1;
/// How long a write may take to reach the webhook's caches, or Traefik's.
const SETTLE: Duration = Duration::from_secs(60);

/// Groups the token hook gives each client id.
type Groups = Arc<Mutex<HashMap<String, Vec<String>>>>;

#[test]
fn only_the_declared_identity_gets_through_traefik() -> Result<()> {
    let began = Instant::now();
    let cp = ControlPlane::shared();
    let k = cp.kubectl();
    let host_ip = endpoints::host_address()?;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);

    // hydra's token hook: the groups claim of each client's access tokens.
    let groups: Groups = Arc::default();
    let hook = token_hook(loopback, Arc::clone(&groups))?;
    let hook_config = HydraConfig {
        token_hook: Some(format!("{}/token-hook", hook.url())),
        top_level_claims: vec!["groups".into()],
    };
    let idp = Hydra::start(cp.dir(), "idp", cp.ca(), &hook_config)?;
    // A second, working OpenID provider that the policy does not allow.
    let rogue = Hydra::start(cp.dir(), "rogue-idp", cp.ca(), &hook_config)?;

    // The verifier listens where an EndpointSlice could point, and the webhook trusts
    // Middlewares that call it; both read the same policy.
    let verifier_port = free_port_on(host_ip)?;
    let verify_url = format!("http://{host_ip}:{verifier_port}/verify");
    let policy = format!(
        r#"apiVersion: oam-traefik.io/v1alpha1
kind: AdmissionPolicy
spec:
  allowedIssuers: ["{issuer}"]
  trustedAuthServices: ["{verify_url}"]
"#,
        issuer = idp.issuer()
    );
    let verifier = Verifier::start(
        cp.dir(),
        host_ip,
        verifier_port,
        &policy,
        cp.ca_file(),
        LEEWAY,
    )?;
    let webhook = Webhook::start(cp, Some(&policy))?;
    webhook.register(cp)?;
    // KubeVela's controller, with the chart's identity definitions rendered to call this
    // verifier (the chart's authService.address).
    let vela = VelaCore::start_with(
        cp,
        &json!({"identity": {"authService": {"address": verify_url}}}),
    )?;
    let traefik = Traefik::start(cp)?;
    let backend = backend::echo(host_ip)?;
    eprintln!(
        "hydra x2, verifier, webhook, vela-core, Traefik and backend up in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    // The app, as a service team writes it; the webhook binds its route to the identity.
    let ns = cp.namespace("request-path", &[])?;
    let identity = json!({
        "version": "v1",
        "provider": "oidc",
        "issuer": idp.issuer(),
        "audiences": ["orders"],
        "scopes": ["orders:read"],
        "groups": ["team-orders"],
    });
    let out = k.apply(&ns, &application(&identity).to_string())?.ok()?;
    ensure!(
        out.stdout
            .contains("application.core.oam.dev/orders created"),
        "{}",
        out.stdout
    );
    let stored = k.get_json(&ns, "application", APP)?;
    let traits = &stored["spec"]["components"][0]["traits"];
    let reference = format!("{ns}-{APP}-{COMPONENT}-identity@kubernetescrd");
    assert_eq!(
        traits[0]["properties"]["annotations"][MIDDLEWARES], reference,
        "the webhook binds the gateway's route to the identity Middleware"
    );

    // What vela-core renders from the stored app, as its ServiceAccount: the gateway
    // trait's Service and Ingress (bound to the identity Middleware), and the identity
    // trait's Middleware, calling the verifier with the rule in its query.
    let ingress = rendered(&vela, k, &ns, "ingresses.networking.k8s.io", COMPONENT)?;
    assert_eq!(ingress["metadata"]["annotations"][MIDDLEWARES], reference);
    let middleware = rendered(
        &vela,
        k,
        &ns,
        "middlewares.traefik.io",
        &format!("{APP}-{COMPONENT}-identity"),
    )?;
    let address = middleware["spec"]["forwardAuth"]["address"]
        .as_str()
        .context("forwardAuth address")?;
    assert!(
        address.starts_with(&format!("{verify_url}?provider=oidc&issuer=")),
        "{address}"
    );
    // The gateway's Service selects the component's pods, which never run here (no
    // kubelet): an EndpointSlice to the backend stands in for the endpoint-slice
    // controller's.
    let service = rendered(&vela, k, &ns, "services", COMPONENT)?;
    let port_name = service["spec"]["ports"][0]["name"]
        .as_str()
        .context("the gateway Service's port has no name")?;
    endpoints::add_endpoint(k, &ns, COMPONENT, port_name, host_ip, backend.addr().port())?;

    let client = traefik.client_for(HOST)?;
    let get = |case: &str, token: Option<&str>| -> Result<Answer> {
        let mut req = client.get(format!("http://{HOST}/case/{case}?q=1"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Answer::of(req.send()?)
    };
    // Traefik serves the route once it has seen the Ingress, the Middleware, the
    // Service and its EndpointSlice: until then it answers 404.
    let first = eventually("Traefik serves the app's route", || {
        let answer = get("warm-up", None)?;
        if answer.status == 404 {
            bail!("404: Traefik has no router for {HOST} yet");
        }
        Ok(answer)
    })?;
    eprintln!(
        "Traefik routes {HOST} after {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(first.status, 401, "{first:?}");

    // Clients of the allowed issuer; the hook puts each in its groups.
    let reader = idp.create_client(
        "orders-reader",
        &["orders:read", "orders:write"],
        &["orders", "billing"],
        None,
    )?;
    let brief = idp.create_client("brief", &["orders:read"], &["orders"], Some("5s"))?;
    let outsider = idp.create_client("outsider", &["orders:read"], &["orders"], None)?;
    let stranger = rogue.create_client("stranger", &["orders:read"], &["orders"], None)?;
    {
        let mut g = groups.lock().unwrap_or_else(|e| e.into_inner());
        for client in [&reader, &brief, &stranger] {
            g.insert(client.id.clone(), vec!["team-orders".into()]);
        }
        g.insert(outsider.id.clone(), vec!["team-other".into()]);
    }
    let mut tokens = Vec::new();
    let mut token = |hydra: &Hydra, client: &OAuthClient, scopes: &[&str], aud: &[&str]| {
        let t = hydra.token(client, scopes, aud);
        if let Ok(t) = &t {
            tokens.push(t.clone());
        }
        t
    };

    // The token the route's rule asks for: an RS256 JWT with aud, scp and the hook's groups.
    let valid = token(&idp, &reader, &["orders:read"], &["orders"])?;
    let (header, claims) = jwt_parts(&valid)?;
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(claims["iss"], idp.issuer(), "{claims}");
    assert_eq!(claims["aud"], json!(["orders"]), "{claims}");
    assert_eq!(claims["scp"], json!(["orders:read"]), "{claims}");
    assert_eq!(claims["groups"], json!(["team-orders"]), "{claims}");
    let first_kid = header["kid"].as_str().context("kid")?.to_owned();

    // 1. No token: 401 with a challenge that names the realm and no error (RFC 6750 §3.1).
    let a = get("no-token", None)?;
    a.refused(401, "Bearer realm=\"oam-traefik\"")?;
    decision(&verifier, "no-token")?.refused("missing_token")?;

    // 2. A token for another audience.
    let other_audience = token(&idp, &reader, &["orders:read"], &["billing"])?;
    get("wrong-audience", Some(&other_audience))?.refused(401, "Bearer error=\"invalid_token\"")?;
    decision(&verifier, "wrong-audience")?.refused("wrong_audience")?;

    // 3. A valid token of the allowed issuer without the required scope: 403.
    let no_scope = token(&idp, &reader, &["orders:write"], &["orders"])?;
    let a = get("missing-scope", Some(&no_scope))?;
    a.refused(403, "Bearer error=\"insufficient_scope\"")?;
    assert!(a.challenge.contains("scope=\"orders:read\""), "{a:?}");
    decision(&verifier, "missing-scope")?.refused("missing_scope")?;

    // 4. A valid token of a caller in another group: 403.
    let other_group = token(&idp, &outsider, &["orders:read"], &["orders"])?;
    get("wrong-group", Some(&other_group))?.refused(403, "Bearer error=\"insufficient_scope\"")?;
    decision(&verifier, "wrong-group")?.refused("missing_group")?;

    // 5. A working token from an issuer the route does not name (and the policy does not
    // allow), with the right audience, scope and group.
    let foreign = token(&rogue, &stranger, &["orders:read"], &["orders"])?;
    assert_eq!(jwt_parts(&foreign)?.1["iss"], rogue.issuer());
    get("foreign-issuer", Some(&foreign))?.refused(401, "Bearer error=\"invalid_token\"")?;
    // The route's issuer never published the key that signed it: refused before its
    // claims are believed (the unknown kid also makes the verifier refetch once).
    decision(&verifier, "foreign-issuer")?.refused("unknown_key")?;

    // 6. The valid token: 200, and the backend sees who called, whatever the client
    // claimed in the same header.
    let answer = client
        .get(format!("http://{HOST}/case/valid?q=1"))
        .bearer_auth(&valid)
        .header("X-Forwarded-User", "admin")
        .send()?;
    let a = Answer::of(answer)?;
    assert_eq!(a.status, 200, "{a:?}");
    let seen: Value = serde_json::from_str(&a.body)?;
    assert_eq!(seen["target"], "/case/valid?q=1", "{seen}");
    assert_eq!(
        seen["headers"]["x-forwarded-user"],
        json!([reader.id]),
        "{seen}"
    );
    assert_eq!(
        seen["headers"]["x-forwarded-groups"],
        json!(["team-orders"]),
        "{seen}"
    );
    let d = decision(&verifier, "valid")?;
    d.allowed(&reader.id, idp.issuer())?;
    assert_eq!(d.0["rule"]["audiences"], json!(["orders"]), "{}", d.0);
    assert_eq!(d.0["rule"]["scopes"], json!(["orders:read"]), "{}", d.0);
    assert_eq!(d.0["host"], HOST, "{}", d.0);
    assert_eq!(d.0["method"], "GET", "{}", d.0);

    // 7. Expired: a token that lives 5 s is let through while it lives (when the loaded
    // machine answers in time: hydra counts the lifespan from the start of the token
    // request), then refused once its exp plus the leeway has passed, though the
    // verifier cached it.
    let short = token(&idp, &brief, &["orders:read"], &["orders"])?;
    let exp = jwt_parts(&short)?.1["exp"].as_u64().context("exp")?;
    let early = get("short-lived", Some(&short))?;
    if now() <= exp {
        assert_eq!(early.status, 200, "{early:?}");
    }
    while now() <= exp + LEEWAY {
        thread::sleep(Duration::from_millis(200));
    }
    get("expired", Some(&short))?.refused(401, "Bearer error=\"invalid_token\"")?;
    decision(&verifier, "expired")?.refused("expired")?;

    // 8. A Middleware written by hand that points the verifier at the rogue issuer: the
    // webhook admits it (a forwardAuth to the trusted verifier), and the verifier
    // refuses every request it sends, the rogue issuer's own valid token included.
    handmade_route(k, &ns, &verify_url, rogue.issuer())?;
    let handmade = traefik.client_for(HANDMADE_HOST)?;
    let a = eventually("Traefik serves the handmade route", || {
        let a = Answer::of(
            handmade
                .get(format!("http://{HANDMADE_HOST}/case/handmade"))
                .bearer_auth(&foreign)
                .send()?,
        )?;
        if a.status == 404 {
            bail!("404: no router for {HANDMADE_HOST} yet");
        }
        Ok(a)
    })?;
    a.refused(401, "Bearer error=\"invalid_token\"")?;
    decision(&verifier, "handmade")?.refused("issuer_not_allowed")?;

    // 9. The issuer rotates its signing key; a token signed with the new key gets
    // through the same verifier process, which fetches the new key on the unknown kid
    // (at most once per 10 s per issuer).
    let verifier_pid = verifier.pid();
    let new_kid = idp.rotate_access_token_key("rotated-e2e")?;
    assert!(idp.published_kids()?.contains(&new_kid));
    let rotated = token(&idp, &reader, &["orders:read"], &["orders"])?;
    let rotated_kid = jwt_parts(&rotated)?.0["kid"].clone();
    assert_eq!(rotated_kid, json!(new_kid), "hydra signs with the new key");
    assert_ne!(rotated_kid, json!(first_kid));
    let deadline = Instant::now() + SETTLE;
    loop {
        let a = get("rotated", Some(&rotated))?;
        if a.status == 200 {
            break;
        }
        // Only the refetch limit may hold it back for a moment, never another reason.
        decision(&verifier, "rotated")?.refused("unknown_key")?;
        ensure!(
            Instant::now() < deadline,
            "the new key is never used: {a:?}"
        );
        thread::sleep(Duration::from_millis(500));
    }
    decision(&verifier, "rotated")?.allowed(&reader.id, idp.issuer())?;
    assert_eq!(verifier.pid(), verifier_pid, "no restart");

    // The decision log never carries a token.
    let log = verifier.log();
    for t in &tokens {
        assert!(
            !log.contains(t.as_str()),
            "a token is in the verifier's log"
        );
        let signature = t.rsplit('.').next().unwrap_or_default();
        assert!(!log.contains(signature), "a token signature is in the log");
    }
    eprintln!(
        "request path: every case in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    drop((hook, backend, traefik, vela, webhook, rogue, idp));
    Ok(())
}

/// hydra's token hook: 200 with `groups` for a known client, 204 (no change) otherwise.
fn token_hook(ip: IpAddr, groups: Groups) -> Result<HttpServer> {
    HttpServer::start(ip, move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let client = body["request"]["client_id"].as_str().unwrap_or_default();
        let known = groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client)
            .cloned();
        match known {
            Some(list) => Response::json(
                200,
                &json!({"session": {"access_token": {"groups": list}, "id_token": {}}}),
            ),
            None => Response::json(204, &Value::Null),
        }
    })
}

/// The Application: component `api` exposed on `HOST` with the gateway trait, and the
/// identity trait with `identity` as its properties.
fn application(identity: &Value) -> Value {
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": APP},
        "spec": {"components": [{
            "name": COMPONENT,
            "type": "webservice",
            "properties": {"image": "ghcr.io/example/orders:1.0", "port": 8080},
            "traits": [
                {"type": "gateway", "properties": {
                    "domain": HOST, "class": "traefik", "http": {"/": 8080}}},
                {"type": "identity", "properties": identity},
            ],
        }]},
    })
}

/// The object vela-core renders for the app, once it exists (vela-core's log tail on a
/// timeout).
fn rendered(vela: &VelaCore, k: &Kubectl, ns: &str, resource: &str, name: &str) -> Result<Value> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(object) = k.find_json(ns, resource, name)? {
            return Ok(object);
        }
        ensure!(
            Instant::now() < deadline,
            "vela-core did not render {resource} {ns}/{name} within {SETTLE:?}; its log ends:\n{}",
            vela.log_tail(40)
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// A forwardAuth Middleware written by hand that names `issuer`, and an IngressRoute on
/// `HANDMADE_HOST` to the app's Service through it.
fn handmade_route(k: &Kubectl, ns: &str, verify_url: &str, issuer: &str) -> Result<()> {
    let address = format!(
        "{verify_url}?provider=oidc&issuer={}&audience=orders",
        reqwest::Url::parse_with_params("http://x/", [("i", issuer)])?
            .query()
            .unwrap_or_default()
            .trim_start_matches("i=")
    );
    let middleware = json!({
        "apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
        "metadata": {"name": "handmade-sso", "namespace": ns},
        "spec": {"forwardAuth": {"address": address,
            "authResponseHeaders": ["X-Forwarded-User"]}},
    });
    k.apply(ns, &middleware.to_string())?.ok()?;
    let route = json!({
        "apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
        "metadata": {"name": "handmade", "namespace": ns},
        "spec": {"entryPoints": ["web"], "routes": [{
            "match": format!("Host(`{HANDMADE_HOST}`)"), "kind": "Rule",
            "middlewares": [{"name": "handmade-sso"}],
            "services": [{"name": COMPONENT, "port": 8080}],
        }]},
    });
    // The webhook's caches may not have seen the Middleware yet.
    eventually("the handmade IngressRoute is admitted", || {
        k.apply(ns, &route.to_string())?.ok()
    })?;
    Ok(())
}

/// What Traefik answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    challenge: String,
    body: String,
}

impl Answer {
    fn of(resp: reqwest::blocking::Response) -> Result<Self> {
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            status,
            challenge,
            body: resp.text()?,
        })
    }

    /// Refused with `status`, a challenge that starts with `challenge`, and a body that
    /// never reached the backend.
    fn refused(&self, status: u16, challenge: &str) -> Result<()> {
        ensure!(self.status == status, "expected {status}, got {self:?}");
        ensure!(
            self.challenge.starts_with(challenge),
            "expected a challenge starting {challenge:?}, got {self:?}"
        );
        ensure!(
            !self.body.contains("\"headers\""),
            "the backend answered: {self:?}"
        );
        Ok(())
    }
}

/// One decision line of the verifier.
struct Decision(Value);

impl Decision {
    fn refused(&self, reason: &str) -> Result<()> {
        ensure!(self.0["allowed"] == false, "not refused: {}", self.0);
        ensure!(self.0["reason"] == reason, "expected {reason}: {}", self.0);
        ensure!(
            self.0["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "no description: {}",
            self.0
        );
        Ok(())
    }

    fn allowed(&self, subject: &str, issuer: &str) -> Result<()> {
        ensure!(self.0["allowed"] == true, "not allowed: {}", self.0);
        ensure!(self.0["subject"] == subject, "subject: {}", self.0);
        ensure!(self.0["issuer"] == issuer, "issuer: {}", self.0);
        ensure!(self.0.get("reason").is_none(), "a reason: {}", self.0);
        Ok(())
    }
}

/// The verifier's latest decision for the request to `/case/<case>` (its log records the
/// path without the query); it is written right after the answer, so wait a moment.
fn decision(verifier: &Verifier, case: &str) -> Result<Decision> {
    let path = format!("/case/{case}");
    eventually("the decision line", || {
        verifier
            .decisions()
            .into_iter()
            .rev()
            .find(|d| d["path"] == path.as_str())
            .map(Decision)
            .with_context(|| format!("no decision for {path}"))
    })
}

/// Retries `attempt` until it succeeds or `SETTLE` has passed.
fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = Instant::now() + SETTLE;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("{what}: gave up")));
            }
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// A free TCP port on `ip`.
fn free_port_on(ip: IpAddr) -> Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
