//! Signing in from a browser (a leaf: the state holds [`Sessions`], `crate::credential` reads them).
//!
//! A browser sends no bearer token: on a server with tokens, `/` offers a form, and a valid token
//! gives a cookie `lms_session` that the page and the API accept for that token's role. The cookie
//! is the token's configured name, an expiry and an HMAC-SHA-256 of both under a key drawn when the
//! server starts, so it holds no secret, cannot be forged or extended, and stops working at its
//! expiry, when the server restarts, or when its token leaves the configuration. It is `HttpOnly`,
//! `SameSite=Strict` (no other site's page can make the browser send it) and `Secure` where the
//! request came over TLS (a proxy's `X-Forwarded-Proto: https`) or `secure_cookies` is set.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "lms_session";

/// The server's session key and how long a session lasts.
pub struct Sessions {
    key: [u8; 32],
    lifetime: std::time::Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sessions(<key>, {:?})", self.lifetime)
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Sessions {
    /// A fresh key from the operating system.
    pub fn new(lifetime: std::time::Duration) -> Sessions {
        use rand::TryRngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.try_fill_bytes(&mut key).expect("operating system random source");
        Sessions { key, lifetime }
    }

    fn mac(&self, name_and_expiry: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(name_and_expiry.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The cookie's value for the token named `name`, valid for the session's lifetime from now.
    pub fn issue(&self, name: &str) -> String {
        let body = format!("{}.{}", hex::encode(name), now() + self.lifetime.as_secs());
        format!("{body}.{}", hex::encode(self.mac(&body)))
    }

    /// The token name a cookie value stands for, if it is one this server issued and it has not
    /// expired.
    pub fn verify(&self, value: &str) -> Option<String> {
        let (body, mac) = value.rsplit_once('.')?;
        let mac: [u8; 32] = hex::decode(mac).ok()?.try_into().ok()?;
        if !bool::from(self.mac(body).ct_eq(&mac)) {
            return None;
        }
        let (name, expires) = body.split_once('.')?;
        if expires.parse::<u64>().ok()? <= now() {
            return None;
        }
        String::from_utf8(hex::decode(name).ok()?).ok()
    }

    /// `Set-Cookie` for a new session.
    pub fn set_cookie(&self, value: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}", self.lifetime.as_secs())
    }

    /// `Set-Cookie` that ends the session in the browser.
    pub fn clear_cookie(secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
    }
}

/// The session cookie's value in a `Cookie` header, if there is one.
pub fn cookie_value(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').map(str::trim).find_map(|c| c.strip_prefix(COOKIE)?.strip_prefix('='))
}
