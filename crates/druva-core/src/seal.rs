//! Sealed token-store entries: what a shared store holds is encrypted and
//! authenticated, and named so that it links to no credential.
//!
//! Two keys are derived from the secret with HKDF-SHA256: one seals an entry
//! (ChaCha20-Poly1305, a random nonce each time), the other names it (the
//! hex HMAC-SHA256 of the token's cache-key fields). Without the secret, an
//! entry's name and bytes reveal no token, no client id and which credential
//! they belong to. The entry name is also the AEAD's associated data, so a
//! blob copied under another name does not open. A leaf: it knows only
//! [`Token`].

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{self, Salt, HKDF_SHA256};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::token::Token;

/// The first bytes of every sealed entry: an entry of another format does
/// not open, and is replaced.
const FORMAT: &[u8] = b"druva-token-1:";

/// HKDF's salt: fixed, so that every process derives the same keys.
const SALT: &[u8] = b"druva token store";

/// The keys of one secret: sealing and naming.
pub struct SealKeys {
    seal: LessSafeKey,
    name: hmac::Key,
}

impl fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKeys(***)")
    }
}

/// What a sealed entry holds: the token and when it was requested (Unix
/// milliseconds), from which its expiry follows.
#[derive(Serialize, Deserialize)]
struct Sealed {
    access_token: String,
    token_type: String,
    scope: Option<Vec<String>>,
    lifetime_ms: u64,
    requested_at_unix_ms: u64,
}

/// The HKDF output length of [`derive`]: 32 bytes.
struct KeyLength(usize);

impl hkdf::KeyType for KeyLength {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(secret: &[u8], purpose: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
    let mut key = Zeroizing::new([0; 32]);
    let info = [purpose];
    prk.expand(&info, KeyLength(key.len()))
        .ok()?
        .fill(&mut *key)
        .ok()?;
    Some(key)
}

impl SealKeys {
    /// The keys derived from `secret` (`None` never happens in practice:
    /// HKDF-SHA256 gives up to 8160 bytes, ChaCha20-Poly1305 takes any 32).
    pub fn derive(secret: &[u8]) -> Option<Self> {
        let seal_key = derive(secret, b"seal")?;
        let name_key = derive(secret, b"name")?;
        let seal = UnboundKey::new(&CHACHA20_POLY1305, &*seal_key).ok()?;
        Some(SealKeys {
            seal: LessSafeKey::new(seal),
            name: hmac::Key::new(hmac::HMAC_SHA256, &*name_key),
        })
    }

    /// The entry name of a token: the hex HMAC of `fields`, which identify
    /// it (see `TokenKey::store_fields`), encoded unambiguously as JSON.
    pub fn entry_name(&self, fields: &[Option<&str>]) -> String {
        let encoded = serde_json::to_vec(fields).unwrap_or_default();
        let tag = hmac::sign(&self.name, &encoded);
        tag.as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut name, byte| {
                use std::fmt::Write;
                let _ = write!(name, "{byte:02x}");
                name
            })
    }

    /// `token` sealed under `name`; `None` only if the system has no
    /// randomness for a nonce.
    pub fn seal(&self, name: &str, token: &Token) -> Option<Vec<u8>> {
        let requested_at = token
            .requested_at_wall
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis();
        let mut sealed = Sealed {
            access_token: token.access_token.expose_secret().to_owned(),
            token_type: token.token_type.clone(),
            scope: token.scope.clone(),
            lifetime_ms: u64::try_from(token.lifetime.as_millis()).ok()?,
            requested_at_unix_ms: u64::try_from(requested_at).ok()?,
        };
        let plain = serde_json::to_vec(&sealed).ok();
        sealed.access_token.zeroize();
        let mut in_out = Zeroizing::new(plain?);
        let mut nonce = [0; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut *in_out,
            )
            .ok()?;
        let mut blob = Vec::with_capacity(FORMAT.len() + NONCE_LEN + in_out.len());
        blob.extend_from_slice(FORMAT);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&in_out);
        Some(blob)
    }

    /// The token sealed in `blob` under `name`, or `None` when it does not
    /// open: corrupt, tampered with, sealed under another secret or name, or
    /// of another format.
    pub fn open(&self, name: &str, blob: &[u8]) -> Option<Token> {
        let rest = blob.strip_prefix(FORMAT)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = Zeroizing::new(sealed.to_vec());
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut in_out)
            .ok()?;
        let sealed: Sealed = serde_json::from_slice(plain).ok()?;
        let requested_at_wall = UNIX_EPOCH + Duration::from_millis(sealed.requested_at_unix_ms);
        // The monotonic moment of the request, from how long ago it was on
        // the wall clock; a request "in the future" counts as now.
        let age = SystemTime::now()
            .duration_since(requested_at_wall)
            .unwrap_or_default();
        let now = Instant::now();
        Some(Token {
            access_token: SecretString::from(sealed.access_token),
            token_type: sealed.token_type,
            scope: sealed.scope,
            lifetime: Duration::from_millis(sealed.lifetime_ms),
            requested_at: now.checked_sub(age)?,
            requested_at_wall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(access_token: &str) -> Token {
        Token {
            access_token: SecretString::from(access_token),
            token_type: "bearer".into(),
            scope: Some(vec!["read".to_owned()]),
            lifetime: Duration::from_secs(1800),
            requested_at: Instant::now(),
            requested_at_wall: SystemTime::now(),
        }
    }

    #[test]
    fn a_sealed_token_opens_under_its_secret_and_name_only() {
        let keys = SealKeys::derive(b"secret").unwrap();
        let name = keys.entry_name(&[Some("https://apis.druva.com/token"), Some("id"), None]);
        let blob = keys.seal(&name, &token("the-access-token")).unwrap();
        let opened = keys.open(&name, &blob).unwrap();
        assert_eq!(opened.access_token.expose_secret(), "the-access-token");
        assert_eq!(opened.scope, Some(vec!["read".to_owned()]));
        assert_eq!(opened.lifetime, Duration::from_secs(1800));
        assert!(opened.expires_in(Instant::now()) > 1790);
        assert!(SealKeys::derive(b"other")
            .unwrap()
            .open(&name, &blob)
            .is_none());
        assert!(keys.open("another-name", &blob).is_none());
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keys.open(&name, &tampered).is_none());
        assert!(keys.open(&name, b"druva-token-0:garbage").is_none());
        assert!(keys.open(&name, b"").is_none());
    }

    #[test]
    fn names_and_blobs_show_neither_the_token_nor_the_client_id() {
        let keys = SealKeys::derive(b"secret").unwrap();
        let name = keys.entry_name(&[Some("https://apis.druva.com/token"), Some("client-id")]);
        assert_eq!(name.len(), 64);
        assert!(name.bytes().all(|byte| byte.is_ascii_hexdigit()));
        let blob = keys.seal(&name, &token("the-access-token")).unwrap();
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains("the-access-token") && !text.contains("client-id"));
        let other = SealKeys::derive(b"other secret").unwrap();
        assert_ne!(
            name,
            other.entry_name(&[Some("https://apis.druva.com/token"), Some("client-id")])
        );
        // None and "" and a shifted field are different names.
        assert_ne!(keys.entry_name(&[None]), keys.entry_name(&[Some("")]));
        assert_ne!(
            keys.entry_name(&[Some("a"), Some("bc")]),
            keys.entry_name(&[Some("ab"), Some("c")])
        );
    }
}
