//! Making a CA and a serving certificate with rcgen, for `--dev-self-signed` and the
//! self-signed in-cluster mode.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A CA and a serving certificate it signed, all PEM.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The CA certificate: what clients (and `caBundle`) trust.
    pub ca_pem: String,
    /// The serving certificate chain.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

/// Make a CA and a serving certificate for `dns_names` (IP addresses are accepted too),
/// valid from now for `lifetime`.
pub fn issue(dns_names: &[String], lifetime: Duration) -> Result<Bundle, rcgen::Error> {
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::minutes(5);
    let not_after = now + time::Duration::try_from(lifetime).unwrap_or(time::Duration::days(365));

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name("oam-traefik webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(dns_names.to_vec())?;
    leaf.distinguished_name = name(
        dns_names
            .first()
            .map_or("oam-traefik-webhook", String::as_str),
    );
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(Bundle {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
