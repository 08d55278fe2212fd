// webpki-verify: judges certificate chains exactly as linkerd2-proxy does (rustls-webpki's
// EndEntityCert::verify_for_usage with Linkerd's signature algorithms), one JSON line per request.
//
// Protocol (stdin -> stdout, one JSON object per line, answers in request order):
//   request:  {"id": 1, "roots": [pem, ...], "chain": [leafPem, intermediatePem, ...],
//              "usage": "server" | "client", "atUnixSeconds": 1760000000, "serverName"?: "a.b"}
//   answer:   {"id": 1, "ok": true, "anchorIndex": 0, "intermediatesUsed": 2}
//             {"id": 1, "ok": false, "error": "UnknownIssuer", "detail": "UnknownIssuer"}
//
// What linkerd2-proxy does, and so what this does (linkerd/meshtls, linkerd/rustls):
// - trust anchors: every certificate of the roots PEM, through rustls' RootCertStore, which keeps
//   only subject, SubjectPublicKeyInfo and name constraints (webpki::anchor_from_trusted_cert);
// - peers and the proxy's own new leaf: `verify_for_usage(SUPPORTED_SIG_ALGS.all, roots,
//   intermediates, now, KeyUsage::server_auth() | client_auth(), None, None)`: no revocation, no
//   extra path check; the client side (AnySanVerifier) skips rustls' DNS name check because Linkerd
//   matches the identity against the leaf's DNS or URI SAN itself. `serverName`, when given, is
//   checked with webpki's DNS SAN check, which is the same comparison for Linkerd's DNS identities.
use std::io::{self, BufRead, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use serde::Deserialize;
use serde_json::{json, Value};
use webpki::aws_lc_rs as algs;
use webpki::{EndEntityCert, KeyUsage};

/// linkerd2-proxy's `SUPPORTED_SIG_ALGS.all` (linkerd/rustls/src/crypto.rs), in its order.
static LINKERD_SIG_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::ECDSA_P521_SHA256,
    algs::ECDSA_P521_SHA384,
    algs::ECDSA_P521_SHA512,
    algs::ED25519,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PKCS1_3072_8192_SHA384,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Request {
    id: Value,
    roots: Vec<String>,
    chain: Vec<String>,
    usage: Usage,
    at_unix_seconds: Option<u64>,
    server_name: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Usage {
    Server,
    Client,
}

/// A refusal: `error` is the webpki error's variant name (stable, for assertions), `detail` its
/// full Debug form.
struct Refusal {
    error: String,
    detail: String,
}

impl Refusal {
    fn of(err: webpki::Error) -> Self {
        let detail = format!("{err:?}");
        let error = detail
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("Unknown")
            .to_string();
        Refusal { error, detail }
    }

    fn bad_request(detail: String) -> Self {
        Refusal {
            error: "BadRequest".into(),
            detail,
        }
    }
}

fn certificates(pems: &[String], what: &str) -> Result<Vec<CertificateDer<'static>>, Refusal> {
    let mut out = Vec::new();
    for (index, pem) in pems.iter().enumerate() {
        let before = out.len();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            out.push(cert.map_err(|err| {
                Refusal::bad_request(format!(
                    "expected PEM certificates in {what}[{index}], found {err:?}"
                ))
            })?);
        }
        if out.len() == before {
            return Err(Refusal::bad_request(format!(
                "expected at least one CERTIFICATE block in {what}[{index}], found none"
            )));
        }
    }
    Ok(out)
}

fn verify(request: &Request) -> Result<Value, Refusal> {
    let roots = certificates(&request.roots, "roots")?;
    let chain = certificates(&request.chain, "chain")?;
    let (leaf, intermediates) = chain.split_first().ok_or_else(|| {
        Refusal::bad_request(
            "expected a leaf certificate first in chain, found an empty chain".into(),
        )
    })?;

    let anchors: Vec<TrustAnchor<'_>> = roots
        .iter()
        .map(|der| webpki::anchor_from_trusted_cert(der).map_err(Refusal::of))
        .collect::<Result<_, _>>()?;
    let end_entity = EndEntityCert::try_from(leaf).map_err(Refusal::of)?;
    let now = match request.at_unix_seconds {
        Some(seconds) => UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
        None => UnixTime::since_unix_epoch(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        ),
    };
    let usage = match request.usage {
        Usage::Server => KeyUsage::server_auth(),
        Usage::Client => KeyUsage::client_auth(),
    };
    let path = end_entity
        .verify_for_usage(
            LINKERD_SIG_ALGS,
            &anchors,
            intermediates,
            now,
            usage,
            None,
            None,
        )
        .map_err(Refusal::of)?;

    if let Some(name) = &request.server_name {
        let server_name = ServerName::try_from(name.as_str()).map_err(|err| {
            Refusal::bad_request(format!(
                "expected a DNS name in serverName, found {name:?} ({err})"
            ))
        })?;
        end_entity
            .verify_is_valid_for_subject_name(&server_name)
            .map_err(Refusal::of)?;
    }

    let anchor = path.anchor();
    let anchor_index = anchors.iter().position(|candidate| {
        candidate.subject.as_ref() == anchor.subject.as_ref()
            && candidate.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
    });
    Ok(json!({
        "ok": true,
        "anchorIndex": anchor_index,
        "intermediatesUsed": path.intermediate_certificates().count(),
    }))
}

fn answer(line: &str) -> Value {
    let request: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(err) => {
            // Echo the id when the line is at least a JSON object carrying one.
            let id = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("id").cloned());
            return json!({ "id": id, "ok": false, "error": "BadRequest", "detail": format!("expected a request object, found a line that does not parse: {err}") });
        }
    };
    match verify(&request) {
        Ok(mut verdict) => {
            verdict["id"] = request.id.clone();
            verdict
        }
        Err(refusal) => {
            json!({ "id": request.id, "ok": false, "error": refusal.error, "detail": refusal.detail })
        }
    }
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        serde_json::to_writer(&mut stdout, &answer(&line))?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    }
    Ok(())
}
