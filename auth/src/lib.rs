//! `oam-traefik-auth`: the forwardAuth verifier on the request path. Traefik asks it,
//! for every request to a route with an identity rule, whether the caller's bearer token
//! satisfies the rule that the generated Middleware carries in its query string.

pub mod allowed;
pub mod cache;
pub mod claims;
pub mod cli;
pub mod fetch;
pub mod handlers;
pub mod issuers;
pub mod jose;
pub mod keys;
pub mod log;
pub mod metrics;
pub mod policy_file;
pub mod refusal;
pub mod run;
pub mod server;
pub mod tls;
pub mod token;
pub mod verify;
