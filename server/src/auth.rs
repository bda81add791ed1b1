//! Bearer tokens with nested roles (`dashboard` ⊂ `controller` ⊂ `analyst`). The configuration holds
//! the SHA-256 of each secret, never the secret; a presented token is hashed and compared with every
//! configured hash in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
pub use crate::role::Role;

/// A configured token.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    sha256: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, {})", self.name, self.role)
    }
}

impl Token {
    /// A token from the configuration: `sha256` is the hex SHA-256 of the secret.
    pub fn new(name: &str, role: &str, sha256: &str) -> Result<Token, String> {
        let role = Role::parse(role)
            .ok_or_else(|| format!("token {name}: role `{role}` (expected analyst, controller or dashboard)"))?;
        let bytes = hex::decode(sha256.trim()).map_err(|e| format!("token {name}: sha256: {e}"))?;
        let sha256: [u8; 32] =
            bytes.try_into().map_err(|_| format!("token {name}: sha256 must be 64 hex characters"))?;
        Ok(Token { name: name.to_string(), role, sha256 })
    }

    /// The hex SHA-256 of a secret, as the configuration stores it.
    pub fn hash(secret: &str) -> String {
        hex::encode(Sha256::digest(secret.as_bytes()))
    }
}

/// The secret of an `Authorization` value: `Bearer <token>`, or `Basic` with the token as the
/// password (what a browser sends for the overview page).
pub(crate) fn secret(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        // With or without `=` padding: Arrow's Go Flight client (under ADBC) sends it unpadded.
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let decoded = LENIENT.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text.split_once(':').map(|(_, password)| password.to_string());
    }
    None
}

/// Who is calling: the configured name of the token presented (none on a server without tokens)
/// and its role. What the access log records: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub token: Option<String>,
    pub role: Role,
}

/// The configured tokens. With none, every caller is an analyst and the server binds to loopback.
#[derive(Clone, Debug, Default)]
pub struct Tokens(pub Vec<Token>);

impl Tokens {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The role of the caller presenting `authorization` (the header's value).
    pub fn role(&self, authorization: Option<&str>) -> Result<Role, ApiError> {
        self.caller(authorization).map(|c| c.role)
    }

    /// The caller presenting `authorization`: the matching token's name and role.
    pub fn caller(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        if self.0.is_empty() {
            return Ok(Caller { token: None, role: Role::Analyst });
        }
        let secret = authorization.and_then(secret).ok_or(ApiError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        // Every configured hash is compared, so the time taken does not tell which one matched.
        let mut found: Option<&Token> = None;
        for t in &self.0 {
            if bool::from(t.sha256.ct_eq(&digest)) && found.is_none_or(|f| t.role > f.role) {
                found = Some(t);
            }
        }
        found.map(|t| Caller { token: Some(t.name.clone()), role: t.role }).ok_or(ApiError::Unauthorized)
    }

    /// Checks that the caller has at least `needed`.
    pub fn require(&self, authorization: Option<&str>, needed: Role) -> Result<Role, ApiError> {
        let role = self.role(authorization)?;
        if role < needed {
            return Err(ApiError::Forbidden(needed));
        }
        Ok(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_tokens_are_checked_by_hash() {
        let tokens = Tokens(vec![
            Token::new("grafana", "dashboard", &Token::hash("d-secret")).unwrap(),
            Token::new("ola", "analyst", &Token::hash("a-secret")).unwrap(),
        ]);
        assert_eq!(tokens.role(Some("Bearer a-secret")).unwrap(), Role::Analyst);
        assert!(tokens.require(Some("Bearer d-secret"), Role::Dashboard).is_ok());
        assert!(matches!(tokens.require(Some("Bearer d-secret"), Role::Controller), Err(ApiError::Forbidden(_))));
        assert!(matches!(tokens.role(Some("Bearer nope")), Err(ApiError::Unauthorized)));
        assert!(matches!(tokens.role(None), Err(ApiError::Unauthorized)));
        assert!(matches!(tokens.role(Some("Basic a-secret")), Err(ApiError::Unauthorized)), "not base64 user:password");
        // `ola:a-secret` in base64: a browser's Basic login with the token as password.
        assert_eq!(tokens.role(Some("Basic b2xhOmEtc2VjcmV0")).unwrap(), Role::Analyst);
        // `o:a-secret` without its `=` padding, as Go's Flight client sends it.
        assert_eq!(tokens.role(Some("Basic bzphLXNlY3JldA")).unwrap(), Role::Analyst);
        assert_eq!(tokens.role(Some("bearer d-secret")).unwrap(), Role::Dashboard);
        assert_eq!(Tokens::default().role(None).unwrap(), Role::Analyst);
        let ola = tokens.caller(Some("Bearer a-secret")).unwrap();
        assert_eq!((ola.token.as_deref(), ola.role), (Some("ola"), Role::Analyst));
        assert_eq!(Tokens::default().caller(None).unwrap().token, None);
        assert!(Token::new("x", "admin", &Token::hash("s")).is_err());
        assert!(Token::new("x", "analyst", "abc").is_err());
    }
}
