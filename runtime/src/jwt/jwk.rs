//! JSON Web Keys (RFC 7517) and JWK sets, read into pinned [`JwtKey`]s.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::jwt::key::{JwtKey, family_name, min_secret_len};

/// The most keys taken from one JWK set; the rest are skipped. Real sets hold a handful, and
/// the lookup walks them.
pub(crate) const MAX_KEYS_PER_SET: usize = 64;

/// How JWKs become keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwkRules {
    /// The one algorithm the key must have (a single JWK loaded with an explicit algorithm);
    /// it also stands in for a missing `alg`.
    pub(crate) pinned: Option<Algorithm>,
    /// The algorithm of RSA JWKs without `alg` (configuration, never the token).
    pub(crate) rsa_default: Option<Algorithm>,
    /// Whether `oct` (HMAC) keys are accepted: from a local file yes, from a URL never (a
    /// shared secret published at a URL is no secret).
    pub(crate) allow_symmetric: bool,
}

/// The members of a JWK that matter here; anything else (`x5c`, `x5t`, ...) is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    k: Option<String>,
    #[serde(default)]
    d: Option<Value>,
}

/// Reads one JWK.
pub(crate) fn parse(value: &Value, rules: &JwkRules) -> Result<JwtKey, String> {
    let raw = RawJwk::deserialize(value).map_err(|e| format!("malformed JWK: {e}"))?;
    if let Some(key_use) = raw.key_use.as_deref()
        && key_use != "sig"
    {
        return Err(format!("`use` is `{key_use}`, not `sig`"));
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|op| op == "verify")
    {
        return Err("`key_ops` does not include `verify`".to_owned());
    }
    if raw.d.is_some() {
        return Err("the JWK holds a private key (`d`); publish only the public key".to_owned());
    }
    let algorithm = algorithm(&raw, rules)?;
    let member = |value: &Option<String>, name: &str| {
        value
            .clone()
            .ok_or_else(|| format!("a `{}` JWK needs `{name}`", raw.kty))
    };
    let decoding_key = match raw.kty.as_str() {
        "RSA" => DecodingKey::from_rsa_components(&member(&raw.n, "n")?, &member(&raw.e, "e")?),
        "EC" => DecodingKey::from_ec_components(&member(&raw.x, "x")?, &member(&raw.y, "y")?),
        "OKP" => DecodingKey::from_ed_components(&member(&raw.x, "x")?),
        "oct" => {
            let secret = URL_SAFE_NO_PAD
                .decode(member(&raw.k, "k")?)
                .map_err(|_| "`k` is not base64url".to_owned())?;
            let min = min_secret_len(algorithm).unwrap_or(0);
            if secret.len() < min {
                return Err(format!(
                    "HMAC secrets for {algorithm:?} must be at least {min} bytes (RFC 7518 section 3.2)"
                ));
            }
            Ok(DecodingKey::from_secret(&secret))
        }
        other => return Err(format!("unsupported `kty` `{other}`")),
    }
    .map_err(|e| format!("invalid key members: {e}"))?;
    let key = JwtKey::new(algorithm, decoding_key)?;
    Ok(match raw.kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// The algorithm of a JWK: its `alg`, else what its curve implies, else configuration.
fn algorithm(raw: &RawJwk, rules: &JwkRules) -> Result<Algorithm, String> {
    let (family, implied) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => (AlgorithmFamily::Rsa, None),
        ("oct", _) => (AlgorithmFamily::Hmac, None),
        ("EC", Some("P-256")) => (AlgorithmFamily::Ec, Some(Algorithm::ES256)),
        ("EC", Some("P-384")) => (AlgorithmFamily::Ec, Some(Algorithm::ES384)),
        ("OKP", Some("Ed25519")) => (AlgorithmFamily::Ed, Some(Algorithm::EdDSA)),
        ("EC" | "OKP", Some(crv)) => return Err(format!("unsupported curve `{crv}`")),
        ("EC" | "OKP", None) => return Err(format!("a `{}` JWK needs `crv`", raw.kty)),
        (kty, _) => return Err(format!("unsupported `kty` `{kty}`")),
    };
    if family == AlgorithmFamily::Hmac && !rules.allow_symmetric {
        return Err("symmetric (`oct`) keys are not taken from a JWKS URL".to_owned());
    }
    let declared = match raw.alg.as_deref() {
        Some(alg) => {
            Some(Algorithm::from_str(alg).map_err(|_| format!("unsupported `alg` `{alg}`"))?)
        }
        None => None,
    };
    let fallback = match family {
        AlgorithmFamily::Rsa => rules.pinned.or(rules.rsa_default),
        _ => rules.pinned,
    };
    let Some(algorithm) = declared.or(implied).or(fallback) else {
        return Err(format!(
            "{} JWK without `alg`: its algorithm must be configured (`JwtKey::from_jwk_with_algorithm`, or `rsa_jwk_algorithm` for a JWK set); it is never taken from the token",
            family_name(family)
        ));
    };
    if algorithm.family() != family {
        return Err(format!(
            "`alg` {algorithm:?} does not fit a `{}` key",
            raw.kty
        ));
    }
    if let (Some(declared), Some(implied)) = (declared, implied)
        && declared != implied
    {
        return Err(format!(
            "`alg` {declared:?} does not fit curve `{}`",
            raw.crv.as_deref().unwrap_or_default()
        ));
    }
    if let Some(pinned) = rules.pinned
        && pinned != algorithm
    {
        return Err(format!(
            "the JWK is for {algorithm:?}, not the configured {pinned:?}"
        ));
    }
    Ok(algorithm)
}

/// A JWK set read: the keys taken and, for the log, why the others were skipped.
#[derive(Debug)]
pub(crate) struct ParsedSet {
    pub(crate) keys: Vec<JwtKey>,
    pub(crate) skipped: Vec<String>,
}

/// Reads a JWK set (`{"keys": [...]}`). Keys that cannot be used (another `use`, an unknown
/// type, a duplicate `kid`, ...) are skipped one by one; a set with no usable key, or that is
/// not a JWK set at all, is an error.
pub(crate) fn parse_set(bytes: &[u8], rules: &JwkRules) -> Result<ParsedSet, String> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<Value>,
    }
    let set: RawSet = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a JWK set (`{{\"keys\": [...]}}`): {e}"))?;
    let mut keys: Vec<JwtKey> = Vec::new();
    let mut skipped = Vec::new();
    for (index, value) in set.keys.iter().enumerate() {
        let name = match value.get("kid").and_then(Value::as_str) {
            Some(kid) => format!("key `{kid}`"),
            None => format!("key #{index}"),
        };
        if keys.len() == MAX_KEYS_PER_SET {
            skipped.push(format!("{name}: more than {MAX_KEYS_PER_SET} keys"));
            continue;
        }
        match parse(value, rules) {
            Ok(key) if key.kid().is_some() && keys.iter().any(|k| k.kid() == key.kid()) => {
                skipped.push(format!("{name}: duplicate `kid`"));
            }
            Ok(key) => keys.push(key),
            Err(reason) => skipped.push(format!("{name}: {reason}")),
        }
    }
    if keys.is_empty() {
        return Err(if skipped.is_empty() {
            "the JWK set has no keys".to_owned()
        } else {
            format!("no usable key in the JWK set ({})", skipped.join("; "))
        });
    }
    Ok(ParsedSet { keys, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: JwkRules = JwkRules {
        pinned: None,
        rsa_default: None,
        allow_symmetric: true,
    };

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ec_jwk(alg: &'static rcgen::SignatureAlgorithm, crv: &str) -> Value {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let point = key.public_key_raw();
        let half = (point.len() - 1) / 2;
        json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=half]), "y": b64(&point[half + 1..])})
    }

    fn err(value: Value, rules: &JwkRules) -> String {
        parse(&value, rules).unwrap_err()
    }

    #[test]
    fn ec_and_okp_algorithms_follow_from_the_curve() {
        let p256 = ec_jwk(&rcgen::PKCS_ECDSA_P256_SHA256, "P-256");
        assert_eq!(parse(&p256, &FILE).unwrap().algorithm(), Algorithm::ES256);
        let p384 = ec_jwk(&rcgen::PKCS_ECDSA_P384_SHA384, "P-384");
        assert_eq!(parse(&p384, &FILE).unwrap().algorithm(), Algorithm::ES384);
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key_raw())});
        assert_eq!(parse(&ed, &FILE).unwrap().algorithm(), Algorithm::EdDSA);

        let mut wrong = p256.clone();
        wrong["alg"] = json!("ES384");
        assert!(err(wrong, &FILE).contains("does not fit curve `P-256`"));
        let mut wrong = p256.clone();
        wrong["alg"] = json!("RS256");
        assert!(err(wrong, &FILE).contains("does not fit a `EC` key"));
        let mut swapped = p256.clone();
        swapped["crv"] = json!("P-384");
        assert!(err(swapped, &FILE).contains("not a point on the curve"));
        let mut off_curve = p256.clone();
        off_curve["y"] = off_curve["x"].clone();
        assert!(err(off_curve, &FILE).contains("not a point on the curve"));
        let mut p521 = p256;
        p521["crv"] = json!("P-521");
        assert!(err(p521, &FILE).contains("unsupported curve `P-521`"));
    }

    #[test]
    fn use_key_ops_and_private_members_are_checked() {
        let key = ec_jwk(&rcgen::PKCS_ECDSA_P256_SHA256, "P-256");
        for (member, value, message) in [
            ("use", json!("enc"), "`use` is `enc`, not `sig`"),
            (
                "key_ops",
                json!(["encrypt"]),
                "`key_ops` does not include `verify`",
            ),
            ("d", json!("c2VjcmV0"), "private key"),
            ("alg", json!("RSA-OAEP"), "unsupported `alg` `RSA-OAEP`"),
            ("kid", json!(7), "malformed JWK"),
        ] {
            let mut jwk = key.clone();
            jwk[member] = value;
            assert!(err(jwk, &FILE).contains(message), "{member}");
        }
        let mut ok = key;
        ok["use"] = json!("sig");
        ok["key_ops"] = json!(["verify"]);
        ok["x5c"] = json!(["ignored"]);
        assert!(parse(&ok, &FILE).is_ok());
    }

    #[test]
    fn symmetric_jwks_need_alg_and_a_strong_secret_and_never_come_from_a_url() {
        let k = b64(&[7; 32]);
        let oct = json!({"kty": "oct", "k": k});
        assert!(err(oct.clone(), &FILE).contains("HMAC JWK without `alg`"));
        let mut hs256 = oct.clone();
        hs256["alg"] = json!("HS256");
        assert_eq!(parse(&hs256, &FILE).unwrap().algorithm(), Algorithm::HS256);
        let mut hs512 = oct.clone();
        hs512["alg"] = json!("HS512");
        assert!(err(hs512, &FILE).contains("at least 64 bytes"));
        let url = JwkRules {
            allow_symmetric: false,
            ..FILE
        };
        assert!(err(hs256, &url).contains("not taken from a JWKS URL"));
        let pinned = JwkRules {
            pinned: Some(Algorithm::HS256),
            ..FILE
        };
        assert_eq!(parse(&oct, &pinned).unwrap().algorithm(), Algorithm::HS256);
    }

    #[test]
    fn a_set_skips_unusable_keys_one_by_one() {
        let good = ec_jwk(&rcgen::PKCS_ECDSA_P256_SHA256, "P-256");
        let mut a = good.clone();
        a["kid"] = json!("a");
        let mut enc = good.clone();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let set = json!({"keys": [a.clone(), enc, {"kty": "weird"}, a, 42]});
        let parsed = parse_set(set.to_string().as_bytes(), &FILE).unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.keys[0].kid(), Some("a"));
        assert_eq!(parsed.skipped.len(), 4, "{:?}", parsed.skipped);
        assert!(parsed.skipped[0].starts_with("key `enc`: `use` is `enc`"));
        assert!(parsed.skipped[2].contains("duplicate `kid`"));

        let only_enc = json!({"keys": [{"kty": "EC", "use": "enc"}]});
        assert!(
            parse_set(only_enc.to_string().as_bytes(), &FILE)
                .unwrap_err()
                .starts_with("no usable key")
        );
        assert!(parse_set(br#"{"keys": []}"#, &FILE).is_err());
        assert!(parse_set(b"<html>", &FILE).is_err());
        assert!(parse_set(br#"{"kty": "EC"}"#, &FILE).is_err());

        let many: Vec<Value> = (0..MAX_KEYS_PER_SET + 2)
            .map(|i| {
                let mut k = good.clone();
                k["kid"] = json!(i.to_string());
                k
            })
            .collect();
        let parsed = parse_set(json!({"keys": many}).to_string().as_bytes(), &FILE).unwrap();
        assert_eq!(parsed.keys.len(), MAX_KEYS_PER_SET);
        assert_eq!(parsed.skipped.len(), 2);
    }
}
