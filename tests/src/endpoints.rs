//! Services whose endpoints are processes of this test, for a control plane without
//! kubelet: a selector-less Service and an EndpointSlice that points at this machine.
//!
//! The API server refuses endpoint addresses in 127.0.0.0/8 (and link-local ones), so the
//! processes behind such a Service listen on the machine's own non-loopback address.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Result, bail};

use crate::kubectl::Kubectl;

/// This machine's first non-loopback, non-link-local IPv4 address of an interface that is up.
pub fn host_address() -> Result<IpAddr> {
    let mut found = None;
    // SAFETY: getifaddrs fills a list that freeifaddrs releases; each entry is read
    // only while the list is alive, and a null ifa_addr is skipped.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            bail!("getifaddrs: {}", std::io::Error::last_os_error());
        }
        let mut entry = list;
        while !entry.is_null() {
            let ifa = &*entry;
            entry = ifa.ifa_next;
            let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
            if !up || ifa.ifa_addr.is_null() || (*ifa.ifa_addr).sa_family as i32 != libc::AF_INET {
                continue;
            }
            let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified() {
                found = Some(ip);
                break;
            }
        }
        libc::freeifaddrs(list);
    }
    match found {
        Some(ip) => Ok(IpAddr::V4(ip)),
        None => bail!(
            "this machine has no non-loopback IPv4 address, which a Service's EndpointSlice needs"
        ),
    }
}

/// Creates (or updates) Service `name` in `namespace` without a selector, serving `port`
/// (named `http`), and its EndpointSlice sending it to `address:target_port`, through kubectl.
pub fn expose(
    kubectl: &Kubectl,
    namespace: &str,
    name: &str,
    port: u16,
    address: IpAddr,
    target_port: u16,
) -> Result<()> {
    let address_type = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    let manifest = format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  ports:
    - name: http
      port: {port}
      targetPort: {target_port}
      protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-e2e
  namespace: {namespace}
  labels:
    kubernetes.io/service-name: {name}
    endpointslice.kubernetes.io/managed-by: oam-traefik-e2e
addressType: {address_type}
endpoints:
  - addresses: ["{address}"]
    conditions: {{ready: true, serving: true, terminating: false}}
ports:
  - name: http
    port: {target_port}
    protocol: TCP
"#
    );
    kubectl.apply(namespace, &manifest)?.ok()?;
    Ok(())
}
