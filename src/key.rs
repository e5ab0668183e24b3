//! Signing keys, the key ring used for rotation and sub-accounts, and which key matched.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size: HMAC pads shorter keys with zeros to this length and hashes longer ones.
const BLOCK: usize = 64;

/// A Mailgun webhook signing key, keyed once into an HMAC-SHA256 state.
///
/// Use the **HTTP webhook signing key** from the Mailgun dashboard (Sending, Webhooks, "HTTP
/// webhook signing key"; or API security). It is not the private API key: Mailgun switched
/// webhook signatures to a separate key in 2020, and using the API key is the most common cause
/// of signature mismatches. Inbound routes are signed with the same key.
///
/// The key's HMAC state is computed once, here, and cloned for each verification, which saves
/// about a third of the cost of a verify. `Debug` never prints the key, and the type implements
/// neither `Display` nor `PartialEq`.
///
/// ```
/// use mailgun_webhooks::SigningKey;
/// let key = SigningKey::new("key-0123456789abcdef");
/// assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
    empty: bool,
}

impl SigningKey {
    /// Creates a key from its exact bytes, as shown in the Mailgun dashboard.
    ///
    /// An empty key, or one whose bytes are all whitespace or NUL (an unset environment
    /// variable, or a buffer a failed read left zeroed), is accepted here but never verifies a
    /// signature: a [`Verifier`](crate::Verifier) without a usable key answers
    /// every request with [`NotConfigured`](crate::ErrorKind::NotConfigured) (500), because
    /// anyone can compute an HMAC under an empty key.
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        // HMAC (RFC 2104): a key longer than the block is replaced by its hash, and the result
        // is zero-padded to the block. Doing that here makes construction infallible.
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let digest = Sha256::digest(key);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        SigningKey {
            mac: HmacSha256::new(&block.into()),
            // HMAC pads a short key with NUL bytes, so an all-NUL key is the empty key.
            empty: key.iter().all(|&b| b == 0 || b.is_ascii_whitespace()),
        }
    }

    /// HMAC-SHA256 of `timestamp ‖ token` under this key.
    #[inline]
    pub(crate) fn sign_parts(&self, timestamp: &[u8], token: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(timestamp);
        mac.update(token);
        mac.finalize().into_bytes().into()
    }

    /// True for an empty key, or one of only whitespace and NUL bytes, which anyone could sign
    /// with: such a key
    /// never verifies anything (a misconfigured environment variable must fail closed).
    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }

    /// Computes the lowercase hex signature Mailgun would send for `timestamp` and `token`.
    ///
    /// Useful for tests and tooling; a receiver never needs it.
    pub fn sign(&self, timestamp: &str, token: &str) -> String {
        hex_lower(&self.sign_parts(timestamp.as_bytes(), token.as_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Identifies which key of a [`KeyRing`] verified a signature.
///
/// Watch for [`KeyId::Previous`] in your logs after a rotation: once it no longer appears, the
/// old key can be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyId {
    /// The primary key.
    Primary,
    /// A previous key, by its position in the order it was added (0 is the first previous key).
    Previous(usize),
    /// The parent account's key, which verified the `parent-signature` of a sub-account event.
    Parent,
}

impl KeyId {
    /// The key's position when the keys are listed primary first, then the previous keys in
    /// order; `None` for the parent key.
    pub fn index(self) -> Option<usize> {
        match self {
            KeyId::Primary => Some(0),
            KeyId::Previous(i) => i.checked_add(1),
            KeyId::Parent => None,
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyId::Primary => f.write_str("primary"),
            KeyId::Previous(i) => write!(f, "previous[{i}]"),
            KeyId::Parent => f.write_str("parent"),
        }
    }
}

/// The keys a [`Verifier`](crate::Verifier) accepts.
///
/// A delivery verifies when its `signature` matches the primary key or any previous key, or
/// when its `parent-signature` matches the parent key. Previous keys let you rotate without
/// losing events still being retried under the old key; the parent key lets one receiver
/// verify every sub-account's events with the primary account's key.
///
/// ```
/// use mailgun_webhooks::{KeyRing, SigningKey};
/// let keys = KeyRing::new(SigningKey::new("new-key"))
///     .previous(SigningKey::new("old-key"))
///     .parent(SigningKey::new("parent-account-key"));
/// assert_eq!(keys.len(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct KeyRing {
    primary: SigningKey,
    previous: Vec<SigningKey>,
    parent: Option<SigningKey>,
}

impl KeyRing {
    /// A ring with one primary key.
    pub fn new(primary: SigningKey) -> Self {
        KeyRing {
            primary,
            previous: Vec::new(),
            parent: None,
        }
    }

    /// Adds a previous key, still accepted during a rotation.
    #[must_use]
    pub fn previous(mut self, key: SigningKey) -> Self {
        self.previous.push(key);
        self
    }

    /// Sets the parent account's key, checked against `parent-signature`.
    #[must_use]
    pub fn parent(mut self, key: SigningKey) -> Self {
        self.parent = Some(key);
        self
    }

    /// The number of keys in the ring, the parent key included.
    pub fn len(&self) -> usize {
        1 + self.previous.len() + usize::from(self.parent.is_some())
    }

    /// Always false: a ring has at least its primary key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The key with the given id, if the ring has it.
    pub fn get(&self, id: KeyId) -> Option<&SigningKey> {
        match id {
            KeyId::Primary => Some(&self.primary),
            KeyId::Previous(i) => self.previous.get(i),
            KeyId::Parent => self.parent.as_ref(),
        }
    }

    /// The usable primary and previous keys, with their ids (empty keys are skipped).
    pub(crate) fn signature_keys(&self) -> impl Iterator<Item = (KeyId, &SigningKey)> {
        std::iter::once((KeyId::Primary, &self.primary))
            .chain(
                self.previous
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (KeyId::Previous(i), k)),
            )
            .filter(|(_, k)| !k.is_empty())
    }

    /// The parent key, if configured and usable.
    pub(crate) fn parent_key(&self) -> Option<&SigningKey> {
        self.parent.as_ref().filter(|k| !k.is_empty())
    }

    /// True when at least one key can verify something.
    pub(crate) fn is_usable(&self) -> bool {
        self.signature_keys().next().is_some() || self.parent_key().is_some()
    }

    // ----- issue 8: the account's replay namespace (keep this block when restructuring) -----
    /// An identifier of the account these keys belong to, for scoping replay records:
    /// HMAC-SHA256 under the **primary** key of a fixed label. It reveals nothing about the key,
    /// and is the same for every key of the ring (the previous and parent keys do not change
    /// it), so a delivery finds its record whichever key verified it. See
    /// [`ReplayNamespace`](crate::ReplayNamespace).
    pub(crate) fn account_id(&self) -> [u8; 32] {
        let mut mac = self.primary.mac.clone();
        mac.update(b"mailgun-webhooks replay namespace v1");
        mac.finalize().into_bytes().into()
    }
    // ----- end issue 8 -----
}

impl From<SigningKey> for KeyRing {
    fn from(key: SigningKey) -> Self {
        KeyRing::new(key)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The lowercase hex of a 32-byte tag, in constant time: each digit is computed with
/// arithmetic and a mask (no branch and no table index depends on the tag's bits), so the
/// time taken says nothing about the tag.
pub(crate) fn hex_tag(tag: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(tag) {
        for (o, n) in pair.iter_mut().zip([b >> 4, b & 0x0f]) {
            // 0xff when n > 9 (the sign bit of 9 - n), else 0; 'a' - '0' - 10 = 0x27.
            let above_nine = 0u8.wrapping_sub((9u8.wrapping_sub(n)) >> 7);
            *o = n + b'0' + (above_nine & 0x27);
        }
    }
    out
}

/// True when `received` is exactly the lowercase hex of `tag`, compared in the hex domain:
/// the computed tag is hex-encoded ([`hex_tag`]) and XOR-ed against all 64 received bytes,
/// the differences OR-ed together with no early exit, and the single resulting byte tested
/// with `subtle`. Every byte is read every time and no branch depends on where (or whether)
/// they differ, so the time is the same for any forgery; only the final yes/no is public.
/// `received` must already have passed the syntax check (64 lowercase hex digits), so
/// equality here is equality of the decoded tags.
pub(crate) fn hex_tag_eq(tag: &[u8; 32], received: &[u8; 64]) -> bool {
    use subtle::ConstantTimeEq;
    let ours = hex_tag(tag);
    let diff = ours
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    bool::from(diff.ct_eq(&0))
}

/// `s` as 64 lowercase hex digits, or `None`. Branch-free over the bytes (the received
/// signature is not secret; this keeps the loop vectorisable).
pub(crate) fn lower_hex_64(s: &[u8]) -> Option<&[u8; 64]> {
    let b: &[u8; 64] = s.try_into().ok()?;
    let ok = b.iter().fold(true, |ok, &c| {
        ok & ((c.wrapping_sub(b'0') < 10) | (c.wrapping_sub(b'a') < 6))
    });
    ok.then_some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        hex_lower(b)
    }

    #[test]
    fn hex_domain_helpers_agree_with_hex_lower() {
        let mut tag = [0u8; 32];
        for (i, b) in tag.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        tag[0] = 0xff;
        tag[1] = 0x00;
        tag[2] = 0x9a;
        let text = hex_lower(&tag);
        assert_eq!(&hex_tag(&tag)[..], text.as_bytes());
        let received = lower_hex_64(text.as_bytes()).unwrap();
        assert!(hex_tag_eq(&tag, received));
        for i in 0..64 {
            let mut other = *received;
            other[i] = if other[i] == b'0' { b'1' } else { b'0' };
            assert!(!hex_tag_eq(&tag, &other), "byte {i}");
        }
        assert!(lower_hex_64(text.to_uppercase().as_bytes()).is_none());
        assert!(lower_hex_64(&text.as_bytes()[..63]).is_none());
        for bad in [b'g', b'/', b':', b'`', b'A', b' ', 0x80] {
            let mut t = text.clone().into_bytes();
            t[17] = bad;
            assert!(lower_hex_64(&t).is_none(), "{bad}");
        }
    }

    // RFC 4231 test cases 1, 2 and 6 (131-byte key, longer than the block).
    #[test]
    fn rfc4231_known_answers() {
        let k = SigningKey::new([0x0b; 20]);
        assert_eq!(
            hex(&k.sign_parts(b"Hi ", b"There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let k = SigningKey::new("Jefe");
        assert_eq!(
            hex(&k.sign_parts(b"what do ya want ", b"for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let k = SigningKey::new([0xaa; 131]);
        assert_eq!(
            hex(&k.sign_parts(
                b"Test Using Larger Than Block-Size Key - ",
                b"Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn exactly_block_sized_key_is_used_as_is() {
        // A 64-byte key must not be hashed; compare with the library's own keying.
        let raw = [7u8; 64];
        let ours = SigningKey::new(raw).sign_parts(b"1", b"2");
        let mut theirs = <HmacSha256 as KeyInit>::new_from_slice(&raw).unwrap();
        theirs.update(b"12");
        let theirs: [u8; 32] = theirs.finalize().into_bytes().into();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn debug_is_redacted() {
        let k = SigningKey::new("super-secret-key");
        let ring = KeyRing::new(k.clone()).parent(k);
        assert!(!format!("{ring:?}").contains("super-secret"));
    }

    #[test]
    fn empty_keys_are_flagged() {
        assert!(SigningKey::new("").is_empty());
        assert!(SigningKey::new(" \n").is_empty());
        assert!(!SigningKey::new("k").is_empty());
        // All NUL bytes is the empty key once HMAC pads it: `""` would sign for it.
        for zeroed in [
            &[0u8; 32][..],
            &[0u8; 1],
            &[0u8; 64],
            &[0u8; 100],
            b"\0 \t\0\n",
        ] {
            assert!(SigningKey::new(zeroed).is_empty(), "{zeroed:?}");
        }
        assert_eq!(
            SigningKey::new([0u8; 32]).sign("1", "t"),
            SigningKey::new("").sign("1", "t")
        );
        assert!(!SigningKey::new([0u8, 1]).is_empty());
    }

    #[test]
    fn key_indices() {
        assert_eq!(KeyId::Primary.index(), Some(0));
        assert_eq!(KeyId::Previous(0).index(), Some(1));
        assert_eq!(KeyId::Parent.index(), None);
    }
}
