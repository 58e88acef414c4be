//! Authentication (SPEC 4.7): bearer tokens verified with `jsonwebtoken` against the keys
//! of `[auth]` (an HMAC secret from the environment, a PEM public key, a JWKS file, or a
//! JWKS URL refreshed when a token names a key it does not know), the bounded cache of
//! verified tokens, and a request's `Caller`: its role and claims. Knows no SQL and no
//! routing; what a role may do is the schema cache's (`Service::permits`, `owner`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::config::AuthConfig;
use crate::error::ApiError;

/// Verified tokens kept at most (the cache starts over when full).
const CACHE_MAX: usize = 10_000;

/// Who is asking: the role and claims of a verified token, or the anonymous role.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `None` when authentication is off, or a token had no role and there is no
    /// anonymous role.
    pub role: Option<String>,
    /// The verified token's claims.
    pub claims: Option<Arc<Value>>,
    /// The request carried a token (a refusal is then 403, not 401).
    pub token: bool,
}

impl Caller {
    /// The caller when authentication is off: every service, every method.
    pub fn open() -> Caller {
        Caller::default()
    }

    /// The claim at a dotted path (`app_metadata.role`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        let mut v: &Value = self.claims.as_deref()?;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        Some(v)
    }

    /// A claim as text (a string as it is, a number or boolean as JSON), for comparing
    /// with a column.
    pub fn claim_text(&self, path: &str) -> Option<String> {
        match self.claim(path)? {
            Value::String(s) => Some(s.clone()),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
            _ => None,
        }
    }
}

/// One verification key and the algorithms it may verify.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

struct Cached {
    claims: Arc<Value>,
    exp: Option<u64>,
}

pub struct Auth {
    cfg: AuthConfig,
    keys: RwLock<Arc<Vec<Key>>>,
    /// When the JWKS URL was last fetched (for the refresh rate limit).
    fetched: Mutex<Option<Instant>>,
    cache: Mutex<HashMap<String, Cached>>,
}

const HMAC: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const EC: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];
const ED: &[Algorithm] = &[Algorithm::EdDSA];

fn unauthorized(invalid_token: bool, message: &str) -> ApiError {
    ApiError::Unauthorized {
        message: message.to_string(),
        invalid_token,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A key of a JWK, with the algorithms its `alg` (or else its key type) allows.
fn jwk_key(jwk: &Jwk) -> Option<Key> {
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA,
        AlgorithmParameters::EllipticCurve(_) => EC,
        AlgorithmParameters::OctetKeyPair(_) => ED,
        AlgorithmParameters::OctetKey(_) => HMAC,
    };
    let algorithms = match jwk.common.key_algorithm {
        // An encryption algorithm (`RSA-OAEP`) parses as no signing one: the key is skipped.
        Some(a) => {
            let a: Algorithm = a.to_string().parse().ok()?;
            family.contains(&a).then(|| vec![a])?
        }
        None => family.to_vec(),
    };
    Some(Key {
        kid: jwk.common.key_id.clone(),
        key,
        algorithms,
    })
}

fn jwks_keys(text: &str) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    Ok(set.keys.iter().filter_map(jwk_key).collect())
}

/// The JWKS at `url` (blocking; call it off the runtime's threads).
fn fetch_jwks(url: &str) -> Result<Vec<Key>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let text = agent
        .get(url)
        .call()
        .map_err(|e| format!("fetching {url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("reading {url}: {e}"))?;
    jwks_keys(&text)
}

impl Auth {
    /// The keys of `cfg`, read (and fetched) now. Errors name the `[auth]` key at fault.
    pub async fn load(cfg: &AuthConfig) -> Result<Auth, (String, String)> {
        let mut keys = Vec::new();
        if let Some(var) = &cfg.jwt_secret_env {
            let secret = std::env::var(var).unwrap_or_default();
            if secret.is_empty() {
                return Err((
                    "auth.jwt_secret_env".into(),
                    format!("the environment variable {var} is not set"),
                ));
            }
            if secret.len() < 32 {
                tracing::warn!(
                    var = %var,
                    "the JWT secret is shorter than 32 bytes: easy to guess by brute force"
                );
            }
            keys.push(Key {
                kid: None,
                key: DecodingKey::from_secret(secret.as_bytes()),
                algorithms: HMAC.to_vec(),
            });
        }
        if let Some(path) = &cfg.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                (
                    "auth.jwt_public_key_file".to_string(),
                    format!("cannot read {path}: {e}"),
                )
            })?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .map(|k| (k, RSA))
                .or_else(|_| DecodingKey::from_ec_pem(&pem).map(|k| (k, EC)))
                .or_else(|_| DecodingKey::from_ed_pem(&pem).map(|k| (k, ED)))
                .map_err(|_| {
                    (
                        "auth.jwt_public_key_file".to_string(),
                        format!("{path} is not an RSA, EC or Ed25519 public key in PEM form"),
                    )
                })?;
            keys.push(Key {
                kid: None,
                key: key.0,
                algorithms: key.1.to_vec(),
            });
        }
        if let Some(path) = &cfg.jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    "auth.jwks_file".to_string(),
                    format!("cannot read {path}: {e}"),
                )
            })?;
            keys.extend(
                jwks_keys(&text)
                    .map_err(|e| ("auth.jwks_file".to_string(), format!("{path}: {e}")))?,
            );
        }
        let auth = Auth {
            cfg: cfg.clone(),
            keys: RwLock::new(Arc::new(keys)),
            fetched: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        };
        if let Some(url) = &cfg.jwks_url {
            let url = url.clone();
            let fetched = tokio::task::spawn_blocking(move || fetch_jwks(&url))
                .await
                .map_err(|e| ("auth.jwks_url".to_string(), e.to_string()))?
                .map_err(|e| ("auth.jwks_url".to_string(), e))?;
            auth.add_fetched(fetched);
        }
        Ok(auth)
    }

    /// Replace the keys that came from the URL (those with a `kid`, plus the configured
    /// ones, which have none).
    fn add_fetched(&self, fetched: Vec<Key>) {
        *lock(&self.fetched) = Some(Instant::now());
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Key> = Vec::with_capacity(keys.len() + fetched.len());
        // Configured keys are rebuilt from config on reload; here only the URL's change.
        for k in keys.iter() {
            if k.kid.is_none() || self.cfg.jwks_file.is_some() {
                all.push(Key {
                    kid: k.kid.clone(),
                    key: k.key.clone(),
                    algorithms: k.algorithms.clone(),
                });
            }
        }
        all.extend(fetched);
        *keys = Arc::new(all);
    }

    /// Fetch the JWKS again, unless it was fetched within `jwks_refresh_s`.
    async fn refresh(&self) -> bool {
        let Some(url) = self.cfg.jwks_url.clone() else {
            return false;
        };
        {
            let mut last = lock(&self.fetched);
            let wait = Duration::from_secs(self.cfg.jwks_refresh_s);
            if last.is_some_and(|t| t.elapsed() < wait) {
                return false;
            }
            // Taken now, so concurrent requests do not all fetch.
            *last = Some(Instant::now());
        }
        match tokio::task::spawn_blocking(move || fetch_jwks(&url)).await {
            Ok(Ok(keys)) => {
                tracing::info!(keys = keys.len(), "JWKS refreshed");
                self.add_fetched(keys);
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                false
            }
        }
    }

    fn validation(&self, algorithms: &[Algorithm]) -> Validation {
        let mut v = Validation::new(algorithms[0]);
        v.algorithms = algorithms.to_vec();
        v.leeway = self.cfg.leeway_s;
        v.validate_exp = true;
        v.validate_nbf = true;
        // `exp` is not required (PostgREST accepts tokens without it); `aud` and `iss` are
        // when configured, so a token without them does not slip past the check.
        let mut required: Vec<&str> = Vec::new();
        if self.cfg.audience.is_some() {
            required.push("aud");
        }
        if self.cfg.issuer.is_some() {
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        match &self.cfg.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.cfg.issuer {
            v.set_issuer(&[iss]);
        }
        v
    }

    /// Verify `token` with the keys known now.
    fn verify_with_keys(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()));
        let candidates = keys.iter().filter(|k| {
            k.algorithms.contains(&header.alg)
                && match (&header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                }
        });
        let mut last = format!("no key for alg {:?} kid {:?}", header.alg, header.kid);
        for k in candidates {
            // Only the token's own algorithm, which this key allows.
            match jsonwebtoken::decode::<Value>(token, &k.key, &self.validation(&[header.alg])) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// The claims of a valid token (from the cache when verified before).
    async fn verify(&self, token: &str) -> Result<Arc<Value>, ApiError> {
        if let Some(claims) = self.cached(token) {
            return Ok(claims);
        }
        let mut result = self.verify_with_keys(token);
        if result.is_err() && self.cfg.jwks_url.is_some() {
            // A key rotated at the identity provider: fetch the set again (rate-limited).
            let unknown_kid = jsonwebtoken::decode_header(token).is_ok_and(|h| {
                h.kid.is_some_and(|kid| {
                    !self
                        .keys
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .any(|k| k.kid.as_deref() == Some(kid.as_str()))
                })
            });
            if unknown_kid && self.refresh().await {
                result = self.verify_with_keys(token);
            }
        }
        match result {
            Ok(claims) => {
                let exp = claims.get("exp").and_then(Value::as_u64);
                let claims = Arc::new(claims);
                let mut cache = lock(&self.cache);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(
                    token.to_string(),
                    Cached {
                        claims: Arc::clone(&claims),
                        exp,
                    },
                );
                Ok(claims)
            }
            Err(reason) => {
                // The reason goes to the log only: an answer that says which check failed
                // helps whoever is forging.
                tracing::info!(reason = %reason, "token refused");
                Err(unauthorized(true, "the bearer token is not valid"))
            }
        }
    }

    /// The caller of a request with this `Authorization` header value.
    pub async fn caller(&self, authorization: Option<&[u8]>) -> Result<Caller, ApiError> {
        if let Some(known) = self.known_caller(authorization) {
            return known;
        }
        let token = bearer(authorization.unwrap_or_default())?;
        let claims = self.verify(token).await?;
        self.caller_with(claims)
    }

    /// The caller when no I/O is needed to know it: a request without a token, a header
    /// that is not a bearer token, or a token verified before and not expired (the usual
    /// case). `None`: the token must be verified (`caller`). Synchronous, so that the
    /// request's future does not carry the verification's (JWKS fetch included).
    pub fn known_caller(&self, authorization: Option<&[u8]>) -> Option<Result<Caller, ApiError>> {
        let Some(header) = authorization else {
            return Some(match &self.cfg.anonymous_role {
                Some(role) => Ok(Caller {
                    role: Some(role.clone()),
                    claims: None,
                    token: false,
                }),
                None => Err(unauthorized(
                    false,
                    "anonymous access is disabled: send Authorization: Bearer <token>",
                )),
            });
        };
        let token = match bearer(header) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let claims = self.cached(token)?;
        Some(self.caller_with(claims))
    }

    /// A verified token's claims from the cache, while it has not expired.
    fn cached(&self, token: &str) -> Option<Arc<Value>> {
        let now = jsonwebtoken::get_current_timestamp();
        let cache = lock(&self.cache);
        let c = cache.get(token)?;
        c.exp
            .is_none_or(|exp| exp.saturating_add(self.cfg.leeway_s) > now)
            .then(|| Arc::clone(&c.claims))
    }

    /// The caller of verified `claims`: their role, or the anonymous role without one.
    fn caller_with(&self, claims: Arc<Value>) -> Result<Caller, ApiError> {
        let mut caller = Caller {
            role: None,
            claims: Some(claims),
            token: true,
        };
        caller.role = match caller.claim(&self.cfg.role_claim) {
            Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
            Some(Value::Null) | None => self.cfg.anonymous_role.clone(),
            Some(_) => {
                return Err(ApiError::Forbidden {
                    message: format!(
                        "the token's '{}' claim is not a role name",
                        self.cfg.role_claim
                    ),
                })
            }
        };
        Ok(caller)
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer(header: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(header)
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized(true, "the Authorization header is not 'Bearer <token>'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn cfg() -> AuthConfig {
        AuthConfig {
            mode: "jwt".into(),
            jwt_secret_env: Some("RESTABLE_TEST_AUTH_SECRET".into()),
            anonymous_role: Some("anon".into()),
            ..AuthConfig::default()
        }
    }

    const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

    fn token(claims: Value, alg: Algorithm) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode")
    }

    #[tokio::test]
    async fn roles_claims_and_refusals() {
        std::env::set_var("RESTABLE_TEST_AUTH_SECRET", SECRET);
        let mut c = cfg();
        c.role_claim = "app.role".into();
        let auth = Auth::load(&c).await.expect("load");
        let now = jsonwebtoken::get_current_timestamp();
        let t = token(
            json!({"app": {"role": "editor"}, "sub": "u1", "exp": now + 60}),
            Algorithm::HS256,
        );
        let caller = auth
            .caller(Some(format!("Bearer {t}").as_bytes()))
            .await
            .expect("valid");
        assert_eq!(caller.role.as_deref(), Some("editor"));
        assert_eq!(caller.claim_text("sub").as_deref(), Some("u1"));
        // Cached: the same answer again.
        assert!(auth
            .caller(Some(format!("bearer {t}").as_bytes()))
            .await
            .is_ok());
        // No token: the anonymous role.
        assert_eq!(
            auth.caller(None).await.expect("anon").role.as_deref(),
            Some("anon")
        );
        // Expired, garbage, another secret, alg none.
        let expired = token(json!({"exp": now - 120}), Algorithm::HS256);
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"exp": now + 60}),
            &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
        )
        .expect("encode");
        let none = format!(
            "{}.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                r#"{"alg":"none","typ":"JWT"}"#
            ),
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                r#"{"role":"admin"}"#
            )
        );
        for bad in [expired, other, none, "garbage".into(), "a.b.c".into()] {
            let e = auth
                .caller(Some(format!("Bearer {bad}").as_bytes()))
                .await
                .expect_err(&bad);
            assert_eq!(e.status(), 401, "{bad}");
        }
        assert_eq!(
            auth.caller(Some(b"Basic dXNlcjpwYXNz"))
                .await
                .expect_err("basic")
                .status(),
            401
        );
    }
}
