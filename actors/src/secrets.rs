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
/// Marks a value sealed with its place as associated data; values without it are the old,
/// unbound format (plain standard base64, which never holds `:`).
const SEALED_PREFIX: &str = "v2:";
const NONCE_LEN: usize = 12;
/// First bytes of every associated data, so it can never equal another use's bytes.
const AAD_DOMAIN: &[u8] = b"signalbox sealed value v2";

/// Where a sealed value is stored: a table, the row's identity for the row's whole life, and
/// the field (a dotted path for a member of a JSON column, e.g. `push_config.auth.password_enc`).
/// It is the value's associated data: a value opens only where it was sealed, so one copied into
/// another row or field (a link's secret pasted into a subscription's AMQP URL) does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAt {
    table: &'static str,
    row: String,
    field: String,
}

impl SealedAt {
    pub fn new(table: &'static str, row: impl Into<String>, field: impl Into<String>) -> SealedAt {
        SealedAt { table, row: row.into(), field: field.into() }
    }

    /// `sb_wsx_link.secret_enc` of the link with this id (sealed once the row has its id).
    pub fn link_secret(id: i64) -> SealedAt {
        SealedAt::new("sb_wsx_link", id.to_string(), "secret_enc")
    }

    /// The `push_config` JSON of a subscription, by its sub key (chosen before the row is
    /// stored, and never changed); its sealed members are [`child`](Self::child)ren of this.
    pub fn subscription_push(sub_key: &str) -> SealedAt {
        SealedAt::new("pubsub_sub", sub_key, "push_config")
    }

    /// The `config` JSON of a service, by its name (unique, and services are never renamed).
    pub fn service_config(name: &str) -> SealedAt {
        SealedAt::new("sb_service", name, "config")
    }

    /// The member `name` of the JSON object stored here.
    pub fn child(&self, name: &str) -> SealedAt {
        SealedAt { table: self.table, row: self.row.clone(), field: format!("{}.{name}", self.field) }
    }

    /// The associated data: a domain string, then table, row and field, each as a 4-byte
    /// big-endian length and its UTF-8 bytes — one byte string for each place, and no two places
    /// alike however their names are spelled.
    pub fn aad(&self) -> Vec<u8> {
        let mut out = AAD_DOMAIN.to_vec();
        for part in [self.table, self.row.as_str(), self.field.as_str()] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// `table[row].field`, for errors and logs (the place, never the value).
impl std::fmt::Display for SealedAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}].{}", self.table, self.row, self.field)
    }
}

/// True for a value in the old format, sealed with no associated data.
pub fn is_unbound(sealed: &str) -> bool {
    !sealed.starts_with(SEALED_PREFIX)
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the master key must be 32 bytes of standard base64 on one line")]
    BadMasterKey,
    #[error("the system random number generator failed")]
    Random,
    #[error("the master key cannot be used as an AES-256-GCM key")]
    BadCipherKey,
    /// Wrong row or field (a value copied or moved), another master key, or altered bytes:
    /// AES-GCM cannot tell these apart, and says only that the value does not open here.
    #[error(
        "the sealed value in {at} does not open: it was sealed for another row or field, \
         under another master key, or altered"
    )]
    NotSealedHere { at: String },
    #[error(
        "the sealed value in {at} is in the old format that binds it to no row; \
         a node re-seals such values when it starts"
    )]
    Unbound { at: String },
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

    /// AES-256-GCM under the sealing key (derived from the master key with HKDF, for this use
    /// only), bound to `at` (its associated data), so the value opens in that row and field only.
    /// The output is `v2:` and base64 of nonce ‖ ciphertext ‖ tag.
    pub fn encrypt(&self, plain: &str, at: &SealedAt) -> Result<String, SecretError> {
        Ok(format!("{SEALED_PREFIX}{}", seal_raw(&self.sealing_key()?, plain, &at.aad())?))
    }

    /// Opens a value [`encrypt`](Self::encrypt) sealed for `at`. A value sealed for another row
    /// or field, under another key, or altered fails with [`SecretError::NotSealedHere`]; one in
    /// the old unbound format with [`SecretError::Unbound`] (start-up re-seals those).
    pub fn decrypt(&self, sealed: &str, at: &SealedAt) -> Result<String, SecretError> {
        let Some(body) = sealed.strip_prefix(SEALED_PREFIX) else {
            return Err(SecretError::Unbound { at: at.to_string() });
        };
        let key = self.sealing_key()?;
        open_raw(&key, body, &at.aad()).ok_or_else(|| SecretError::NotSealedHere { at: at.to_string() })
    }

    /// The value sealed in `sealed` bound to `at`, if it is in the old format that bound nothing
    /// (`None` if it is bound already). Used by the start-up step that re-seals stored values:
    /// the old format opens wherever it is pasted, so nothing else reads it.
    pub fn reseal_unbound(&self, sealed: &str, at: &SealedAt) -> Result<Option<String>, SecretError> {
        if !is_unbound(sealed) {
            return Ok(None);
        }
        let plain = open_raw(&self.unbound_key()?, sealed, &[])
            .ok_or_else(|| SecretError::NotSealedHere { at: at.to_string() })?;
        self.encrypt(&plain, at).map(Some)
    }

    /// The old format, bound to no row: base64 of nonce ‖ ciphertext ‖ tag under the master key
    /// itself, with empty associated data. The node never writes it; it is here so tests can
    /// store values as an older node did.
    #[doc(hidden)]
    pub fn encrypt_unbound_for_tests(&self, plain: &str) -> Result<String, SecretError> {
        seal_raw(&self.unbound_key()?, plain, &[])
    }

    /// The key of bound (`v2:`) values: HKDF-SHA256 of the master key for sealing only, so no
    /// key used for digests or the cluster login ever encrypts.
    fn sealing_key(&self) -> Result<aead::LessSafeKey, SecretError> {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"signalbox");
        let info = [b"signalbox sealed values v2".as_slice()];
        let prk = salt.extract(&self.bytes);
        let okm = prk.expand(&info, &aead::AES_256_GCM).map_err(|_| SecretError::BadCipherKey)?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    }

    /// The key of the old, unbound values: the master key's bytes as they are.
    fn unbound_key(&self) -> Result<aead::LessSafeKey, SecretError> {
        let unbound =
            aead::UnboundKey::new(&aead::AES_256_GCM, &self.bytes).map_err(|_| SecretError::BadCipherKey)?;
        Ok(aead::LessSafeKey::new(unbound))
    }
}

fn seal_raw(key: &aead::LessSafeKey, plain: &str, aad: &[u8]) -> Result<String, SecretError> {
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes()?;
    let mut buf = plain.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce_bytes),
        aead::Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| SecretError::Random)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

/// The text sealed in `body` (base64 of nonce ‖ ciphertext ‖ tag) with `aad`; `None` for
/// anything that does not open, however malformed.
fn open_raw(key: &aead::LessSafeKey, body: &str, aad: &[u8]) -> Option<String> {
    let raw = STANDARD.decode(body).ok()?;
    if raw.len() < NONCE_LEN + aead::AES_256_GCM.tag_len() {
        return None;
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = rest.to_vec();
    let plain = key.open_in_place(nonce, aead::Aad::from(aad), &mut buf).ok()?;
    String::from_utf8(plain.to_vec()).ok()
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

    fn link(id: i64) -> SealedAt {
        SealedAt::link_secret(id)
    }

    #[test]
    fn a_sealed_value_round_trips_in_its_place_and_fails_under_another_key() {
        let key = MasterKey::generate().unwrap();
        let at = SealedAt::subscription_push("zpsk.amqp.0a1b2c").child("url_enc");
        let sealed = key.encrypt("amqp://user:pw@host", &at).unwrap();
        assert!(sealed.starts_with("v2:") && !sealed.contains("pw@host"), "{sealed}");
        assert_eq!(key.decrypt(&sealed, &at).unwrap(), "amqp://user:pw@host");
        let other = MasterKey::generate().unwrap();
        assert!(matches!(other.decrypt(&sealed, &at), Err(SecretError::NotSealedHere { .. })));
        // Each seal has its own nonce.
        assert_ne!(sealed, key.encrypt("amqp://user:pw@host", &at).unwrap());
    }

    #[test]
    fn a_sealed_value_does_not_open_in_another_row() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.encrypt("s3cret", &link(1)).unwrap();
        let err = key.decrypt(&sealed, &link(2)).unwrap_err();
        assert!(
            matches!(&err, SecretError::NotSealedHere { at } if at == "sb_wsx_link[2].secret_enc"),
            "{err}"
        );
        assert!(err.to_string().contains("sealed for another row or field"), "{err}");
        let a = SealedAt::subscription_push("zpsk.rest.000001").child("auth").child("password_enc");
        let b = SealedAt::subscription_push("zpsk.rest.000002").child("auth").child("password_enc");
        let err = key.decrypt(&key.encrypt("pw", &a).unwrap(), &b).unwrap_err();
        assert!(matches!(&err, SecretError::NotSealedHere { at } if *at == b.to_string()), "{err}");
    }

    #[test]
    fn a_sealed_value_does_not_open_in_another_field_or_table() {
        let key = MasterKey::generate().unwrap();
        let push = SealedAt::subscription_push("zpsk.rest.000001").child("auth");
        let sealed = key.encrypt("pw", &push.child("password_enc")).unwrap();
        // Refused as not sealed for the place it is opened at, that place named.
        let not_here = |result: Result<String, SecretError>, place: &SealedAt| match result {
            Err(SecretError::NotSealedHere { at }) => assert_eq!(at, place.to_string()),
            other => panic!("opened at {place}: {other:?}"),
        };
        not_here(key.decrypt(&sealed, &push.child("token_enc")), &push.child("token_enc"));
        // A link's secret pasted into a subscription's AMQP URL, or a service's password into a
        // push target's: another table.
        let secret = key.encrypt("amqp://attacker", &link(7)).unwrap();
        let url = SealedAt::subscription_push("7").child("url_enc");
        not_here(key.decrypt(&secret, &url), &url);
        let service = SealedAt::service_config("zpsk.rest.000001").child("auth").child("password_enc");
        not_here(key.decrypt(&sealed, &service), &service);
        assert_eq!(key.decrypt(&sealed, &push.child("password_enc")).unwrap(), "pw");
    }

    #[test]
    fn places_whose_names_run_together_have_different_associated_data() {
        let one = SealedAt::new("t", "a.b", "c");
        let two = SealedAt::new("t", "a", "b.c");
        let three = SealedAt::new("ta", "", "b.c");
        assert_ne!(one.aad(), two.aad());
        assert_ne!(two.aad(), three.aad());
        assert_eq!(one.aad(), SealedAt::new("t", "a.b", "c").aad());
        assert_eq!(one.to_string(), "t[a.b].c");
    }

    #[test]
    fn a_tampered_sealed_value_is_refused_without_a_panic() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.encrypt("s3cret", &link(1)).unwrap();
        let mut raw = STANDARD.decode(&sealed[3..]).unwrap();
        for i in [0, 12, raw.len() - 1] {
            raw[i] ^= 1;
            let flipped = format!("v2:{}", STANDARD.encode(&raw));
            assert!(matches!(key.decrypt(&flipped, &link(1)), Err(SecretError::NotSealedHere { .. })));
            raw[i] ^= 1;
        }
        for junk in ["v2:", "v2:!!!", "v2:AAAA", "v2:\u{e9}", &sealed[..sealed.len() - 4], "v3:abc"] {
            assert!(key.decrypt(junk, &link(1)).is_err(), "{junk}");
        }
    }

    #[test]
    fn an_old_unbound_value_is_refused_until_it_is_resealed_for_its_place() {
        let key = MasterKey::generate().unwrap();
        let old = key.encrypt_unbound_for_tests("s3cret").unwrap();
        assert!(is_unbound(&old) && !old.contains(':'));
        assert!(matches!(key.decrypt(&old, &link(1)), Err(SecretError::Unbound { .. })));

        let resealed = key.reseal_unbound(&old, &link(1)).unwrap().expect("re-sealed");
        assert!(!is_unbound(&resealed));
        assert_eq!(key.decrypt(&resealed, &link(1)).unwrap(), "s3cret");
        assert!(matches!(key.decrypt(&resealed, &link(2)), Err(SecretError::NotSealedHere { .. })));
        // Bound values are left alone; an old value under another key is reported, not guessed.
        assert_eq!(key.reseal_unbound(&resealed, &link(1)).unwrap(), None);
        // Bound values are sealed under a key derived for sealing, not the master key itself.
        assert!(open_raw(&key.unbound_key().unwrap(), &resealed[3..], &link(1).aad()).is_none());
        assert!(open_raw(&key.sealing_key().unwrap(), &resealed[3..], &link(1).aad()).is_some());
        let foreign = MasterKey::generate().unwrap().encrypt_unbound_for_tests("x").unwrap();
        assert!(matches!(key.reseal_unbound(&foreign, &link(1)), Err(SecretError::NotSealedHere { .. })));
        assert!(key.reseal_unbound("not base64", &link(1)).is_err());
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
