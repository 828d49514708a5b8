//! Keys and credentials: the node's master key, digests of admin and API keys, password hashes,
//! and encryption of outbound secrets. Nothing here logs; nothing here returns a secret it was
//! not asked to make.

use std::num::NonZeroU32;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hmac, pbkdf2};

/// PBKDF2 rounds for endpoint passwords: slow on purpose; verified passwords are cached.
const PBKDF2_ROUNDS: u32 = 100_000;
const PASSWORD_HASH_PREFIX: &str = "pbkdf2-sha256";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the master key must be 32 bytes of standard base64 on one line")]
    BadMasterKey,
    #[error("the system random number generator failed")]
    Random,
    #[error("an encrypted value could not be decrypted with this node's master key")]
    Decrypt,
}

/// 32 random bytes every node of a cluster shares; the root of every digest and cipher here.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| SecretError::Random)?;
    Ok(out)
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey, SecretError> {
        Ok(MasterKey { bytes: random_bytes()? })
    }

    /// Parses the one-line standard base64 form kept in `secret.key` or `SIGNALBOX_SECRET_KEY`.
    pub fn from_base64(text: &str) -> Result<MasterKey, SecretError> {
        let raw = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadMasterKey)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(MasterKey { bytes })
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// HMAC-SHA256 of `value` under the master key, as lowercase hex.
    pub fn digest(&self, value: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        hex::encode(hmac::sign(&key, value.as_bytes()).as_ref())
    }

    /// A node's answer to the internal channel's challenge: HMAC-SHA256 of (node, the nonce the
    /// peer chose for this connection, a timestamp) under a key derived from the master key with
    /// HKDF for this use only — never the key of digests or of sealing. Bound to one connection
    /// and a moment, so a captured answer cannot log in again.
    pub fn cluster_proof(&self, node: &str, nonce: &str, timestamp: &str) -> String {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"signalbox");
        let info = [b"signalbox cluster login".as_slice()];
        let key: hmac::Key = match salt.extract(&self.bytes).expand(&info, hmac::HMAC_SHA256) {
            Ok(okm) => okm.into(),
            // Only a wrong output length fails, and HMAC-SHA256's is fixed.
            Err(_) => return String::new(),
        };
        let message = format!("{node}\n{nonce}\n{timestamp}");
        hex::encode(hmac::sign(&key, message.as_bytes()).as_ref())
    }

    /// A value stored in the database that tells whether a node was given the right key,
    /// without revealing the key.
    pub fn check_value(&self) -> String {
        self.digest("signalbox master key check")
    }

    /// AES-256-GCM under the master key; the output is base64 of nonce ‖ ciphertext ‖ tag.
    pub fn encrypt(&self, plain: &str) -> Result<String, SecretError> {
        let key = self.aead_key()?;
        let nonce_bytes: [u8; 12] = random_bytes()?;
        let mut buf = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce_bytes),
            aead::Aad::empty(),
            &mut buf,
        )
        .map_err(|_| SecretError::Random)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    pub fn decrypt(&self, sealed: &str) -> Result<String, SecretError> {
        let key = self.aead_key()?;
        let raw = STANDARD.decode(sealed).map_err(|_| SecretError::Decrypt)?;
        if raw.len() < 12 + aead::AES_256_GCM.tag_len() {
            return Err(SecretError::Decrypt);
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Decrypt)?;
        let mut buf = rest.to_vec();
        let plain =
            key.open_in_place(nonce, aead::Aad::empty(), &mut buf).map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Decrypt)
    }

    fn aead_key(&self) -> Result<aead::LessSafeKey, SecretError> {
        let unbound =
            aead::UnboundKey::new(&aead::AES_256_GCM, &self.bytes).map_err(|_| SecretError::Decrypt)?;
        Ok(aead::LessSafeKey::new(unbound))
    }
}

/// `prefix` + base64url of 32 random bytes: the shape of admin keys (`sba_`) and API keys (`sbk_`).
pub fn new_token(prefix: &str) -> Result<String, SecretError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `token` has the shape [`new_token`] makes with `prefix`.
pub fn is_token(prefix: &str, token: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A generated endpoint password: 24 random bytes, base64url.
pub fn new_password() -> Result<String, SecretError> {
    let bytes: [u8; 24] = random_bytes()?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `pbkdf2-sha256$<rounds>$<salt>$<hash>` with a random salt.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    let salt: [u8; 16] = random_bytes()?;
    let mut out = [0u8; 32];
    let rounds = NonZeroU32::new(PBKDF2_ROUNDS).expect("non-zero constant");
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &mut out);
    Ok(format!("{PASSWORD_HASH_PREFIX}${PBKDF2_ROUNDS}${}${}", STANDARD.encode(salt), STANDARD.encode(out)))
}

/// Constant-time check of `password` against a hash made by [`hash_password`].
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(PASSWORD_HASH_PREFIX), Some(rounds), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(rounds), Ok(salt), Ok(hash)) =
        (rounds.parse::<u32>().ok().and_then(NonZeroU32::new), STANDARD.decode(salt), STANDARD.decode(hash))
    else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else() {
        let hash = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("s3cret!", &hash));
        assert!(!verify_password("s3cret", "plain"));
    }

    #[test]
    fn encrypted_values_round_trip_and_fail_under_another_key() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.encrypt("amqp://user:pw@host").unwrap();
        assert!(!sealed.contains("pw@host"));
        assert_eq!(key.decrypt(&sealed).unwrap(), "amqp://user:pw@host");
        let other = MasterKey::generate().unwrap();
        assert!(other.decrypt(&sealed).is_err());
    }

    #[test]
    fn master_key_round_trips_through_base64_and_rejects_wrong_lengths() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&format!("{}\n", key.to_base64())).unwrap();
        assert_eq!(key.check_value(), again.check_value());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn tokens_have_their_prefix_and_32_bytes() {
        let t = new_token("sba_").unwrap();
        assert!(t.starts_with("sba_"));
        assert!(is_token("sba_", &t));
        assert!(
            !is_token("sba_", "sba_short") && !is_token("sbk_", &t) && !is_token("sba_", &format!("{t}x"))
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&t[4..]).unwrap().len(), 32);
    }
}
