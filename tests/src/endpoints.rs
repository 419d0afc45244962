//! Reaching processes on this machine through a Service, as the API server does in a cluster:
//! a selector-less Service and EndpointSlices that point at this machine's own non-loopback
//! IPv4 address (the API server refuses endpoints in 127.0.0.0/8). With
//! `--enable-aggregator-routing` the API server resolves a webhook's Service through them.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::kubectl::Kubectl;

/// The port name of the chart's webhook Service. A Service's port and its slices' ports
/// must have the same name: that is how the API server and Traefik pair them.
pub const WEBHOOK_PORT_NAME: &str = "https";

/// This machine's first IPv4 address that is up and neither loopback nor link-local: traffic
/// to it never leaves the machine.
pub fn host_address() -> Result<IpAddr> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `addrs` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getifaddrs");
    }
    let mut found = None;
    let mut cursor = addrs;
    while !cursor.is_null() {
        // SAFETY: a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cursor };
        cursor = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
        if ifa.ifa_addr.is_null() || !up {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it names.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        if ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        found = Some((ip, name.into_owned()));
        break;
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(addrs) };
    match found {
        Some((ip, _interface)) => Ok(IpAddr::V4(ip)),
        None => bail!(
            "this machine has no IPv4 address besides loopback: the API server refuses \
             loopback endpoints, so a webhook Service cannot point here"
        ),
    }
}

/// Creates (or updates) the selector-less Service `namespace/name` (port `port`, named
/// `port_name`) and one ready EndpointSlice `<name>-<target_port>` to `address:target_port`.
pub fn create_service(
    kubectl: &Kubectl,
    namespace: &str,
    name: &str,
    port_name: &str,
    port: u16,
    address: IpAddr,
    target_port: u16,
) -> Result<()> {
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        // No selector: no controller manages its endpoints, the slices below are the truth.
        "spec": {"type": "ClusterIP", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}
    });
    kubectl
        .run_stdin(&["apply", "-f", "-"], &service.to_string())?
        .ok()
        .with_context(|| format!("creating Service {namespace}/{name}"))?;
    add_endpoint(kubectl, namespace, name, port_name, address, target_port)?;
    Ok(())
}

/// Adds a ready EndpointSlice of Service `namespace/service` (its port named `port_name`) to
/// `address:target_port`; returns its name, `<service>-<target_port>`.
pub fn add_endpoint(
    kubectl: &Kubectl,
    namespace: &str,
    service: &str,
    port_name: &str,
    address: IpAddr,
    target_port: u16,
) -> Result<String> {
    let name = format!("{service}-{target_port}");
    let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                // Not the endpoint-slice controller's: nothing else rewrites it.
                "endpointslice.kubernetes.io/managed-by": "oam-traefik-e2e"
            }
        },
        "addressType": family,
        "ports": [{"name": port_name, "port": target_port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}}]
    });
    kubectl
        .run_stdin(&["apply", "-f", "-"], &slice.to_string())?
        .ok()
        .with_context(|| format!("creating EndpointSlice {namespace}/{name}"))?;
    Ok(name)
}

/// Marks the one endpoint of slice `namespace/slice` ready or not, as the endpoint-slice
/// controller does when a pod's readiness probe passes or fails.
pub fn set_ready(kubectl: &Kubectl, namespace: &str, slice: &str, ready: bool) -> Result<()> {
    let patch = json!([{"op": "replace", "path": "/endpoints/0/conditions/ready", "value": ready}]);
    kubectl
        .run(&[
            "patch",
            "endpointslice",
            "-n",
            namespace,
            slice,
            "--type=json",
            "-p",
            &patch.to_string(),
        ])?
        .ok()
        .with_context(|| format!("marking {namespace}/{slice} ready={ready}"))?;
    Ok(())
}
