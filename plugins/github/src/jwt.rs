//! GitHub App JWT (RS256), signed with the App's private key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

/// A JWT for `POST /app/installations/{id}/access_tokens`: issued 60 s in
/// the past (GitHub's advice for clock drift), valid 9 minutes (the maximum
/// is 10). PKCS#1 v1.5 signing is deterministic, so it needs no RNG.
pub fn app_jwt(pem: &str, app_id: &str, now_secs: i64) -> Result<String, String> {
    let key = RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| {
            "the App private key is not an RSA private key in PEM (PKCS#1 or PKCS#8)".to_string()
        })?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    // The App id is a number for GitHub; keep it a JSON string if it is not.
    let iss = match app_id.parse::<u64>() {
        Ok(n) => n.to_string(),
        Err(_) => serde_json_string(app_id),
    };
    let claims = format!(
        r#"{{"iat":{},"exp":{},"iss":{iss}}}"#,
        now_secs - 60,
        now_secs + 540
    );
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
    let sig = SigningKey::<Sha256>::new(key)
        .try_sign(signing_input.as_bytes())
        .map_err(|e| format!("cannot sign the App JWT: {e}"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ))
}

fn serde_json_string(s: &str) -> String {
    gsec_plugin_sdk::serde_json::to_string(s).unwrap_or_default()
}
