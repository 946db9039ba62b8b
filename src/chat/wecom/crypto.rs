//! WeCom callback encryption (企业微信 "加解密方案"), as the official WXBizMsgCrypt samples do it:
//!
//! * `AESKey = Base64_Decode(EncodingAESKey + "=")`: 43 characters give 32 bytes (AES-256);
//!   the IV is the key's first 16 bytes; CBC mode.
//! * Padding is PKCS#7 to a multiple of **32** bytes (not the cipher's 16), so padding is
//!   handled here rather than by the block-mode crate.
//! * Plaintext = 16 random bytes ‖ message length (4 bytes, big-endian) ‖ message ‖ receive id.
//!   The receive id is the CorpID for self-built apps and empty for 智能机器人.
//! * `msg_signature = sha1(concat(sort([token, timestamp, nonce, encrypt])))`, lowercase hex.

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

const PAD_BLOCK: usize = 32;

/// Base64 that tolerates non-zero trailing bits: 43 characters carry 258 bits for a 256-bit
/// key, and WeCom's keys (the official sample's among them) do not zero the last two.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("EncodingAESKey must be 43 characters of base64 (it decodes to 32 bytes)")]
    BadKey,
    #[error("the ciphertext is not valid base64")]
    BadBase64,
    #[error("the ciphertext is not a whole number of AES blocks")]
    BadLength,
    #[error("bad padding after decryption (wrong key?)")]
    BadPadding,
    #[error("the decrypted message is malformed")]
    Malformed,
    #[error("the message is not UTF-8")]
    NotUtf8,
    #[error("the message was meant for another receiver (CorpID mismatch)")]
    WrongReceiver,
}

/// Decodes an EncodingAESKey into the 32-byte AES key.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let k = encoding_aes_key.trim();
    if k.len() != 43 {
        return Err(CryptoError::BadKey);
    }
    let bytes = LENIENT.decode(format!("{k}=")).map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// `msg_signature` over the four values, sorted as byte strings.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Equality whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One configured callback: token, key and the receive id every message must carry.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Token and key are secrets.
        f.debug_struct("MsgCrypt").field("receive_id", &self.receive_id).finish_non_exhaustive()
    }
}

impl MsgCrypt {
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        Ok(MsgCrypt {
            token: token.to_string(),
            key: decode_aes_key(encoding_aes_key)?,
            receive_id: receive_id.to_string(),
        })
    }

    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` (case-insensitive hex, compared in constant time).
    pub fn verify(&self, msg_signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> bool {
        let expected = self.signature(timestamp, nonce, encrypt);
        constant_time_eq(expected.as_bytes(), msg_signature.trim().to_ascii_lowercase().as_bytes())
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Decrypts a base64 ciphertext and checks its receive id; returns the message.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        let mut buf = LENIENT.decode(encrypt_b64.trim()).map_err(|_| CryptoError::BadBase64)?;
        let body = self.decrypt_unpad(&mut buf)?;
        if body.len() < 20 {
            return Err(CryptoError::Malformed);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(CryptoError::Malformed);
        }
        let (msg, receive_id) = rest.split_at(len);
        if !constant_time_eq(receive_id, self.receive_id.as_bytes()) {
            return Err(CryptoError::WrongReceiver);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// AES-256-CBC decryption in place and the 32-byte PKCS#7 padding removed.
    fn decrypt_unpad<'a>(&self, buf: &'a mut [u8]) -> Result<&'a [u8], CryptoError> {
        if buf.is_empty() || !buf.len().is_multiple_of(16) {
            return Err(CryptoError::BadLength);
        }
        let dec = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = dec.decrypt_padded_mut::<NoPadding>(buf).map_err(|_| CryptoError::BadLength)?;
        let pad = *plain.last().ok_or(CryptoError::BadPadding)? as usize;
        if pad == 0
            || pad > PAD_BLOCK
            || pad > plain.len()
            || plain[plain.len() - pad..].iter().any(|b| *b as usize != pad)
        {
            return Err(CryptoError::BadPadding);
        }
        Ok(&plain[..plain.len() - pad])
    }

    /// Decrypts a file the 智能机器人 callback links to (its images): the raw bytes are
    /// AES-256-CBC with the same key and IV and the same 32-byte padding, with no random prefix,
    /// length or receive id.
    pub fn decrypt_media(&self, encrypted: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut buf = encrypted.to_vec();
        Ok(self.decrypt_unpad(&mut buf)?.to_vec())
    }

    /// Encrypts a message with the given 16 random bytes (passive replies; tests).
    pub fn encrypt_with(&self, msg: &str, random: [u8; 16]) -> String {
        let mut buf = Vec::with_capacity(msg.len() + self.receive_id.len() + 20 + PAD_BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let len = buf.len();
        let enc = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        // The buffer is already a whole number of blocks, so this cannot fail.
        let out = enc.encrypt_padded_mut::<NoPadding>(&mut buf, len).map(|c| c.to_vec()).unwrap_or_default();
        STANDARD.encode(out)
    }

    pub fn encrypt(&self, msg: &str) -> String {
        self.encrypt_with(msg, rand::random())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official sample values (WeCom 加解密 documentation and the WXBizMsgCrypt samples).
    const TOKEN: &str = "QDG6eK";
    const CORP_ID: &str = "wx5823bf96d3bd56c7";
    const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    // URL verification (GET).
    const VERIFY_SIG: &str = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3";
    const VERIFY_TS: &str = "1409659589";
    const VERIFY_NONCE: &str = "263014780";
    const VERIFY_ECHO: &str =
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";

    // A message callback (POST).
    const MSG_SIG: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
    const MSG_TS: &str = "1409659813";
    const MSG_NONCE: &str = "1372623149";
    const MSG_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";

    fn official() -> MsgCrypt {
        MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).unwrap()
    }

    #[test]
    fn official_url_verification_vector() {
        let c = official();
        assert_eq!(c.signature(VERIFY_TS, VERIFY_NONCE, VERIFY_ECHO), VERIFY_SIG);
        assert!(c.verify(VERIFY_SIG, VERIFY_TS, VERIFY_NONCE, VERIFY_ECHO));
        assert!(c.verify(&VERIFY_SIG.to_uppercase(), VERIFY_TS, VERIFY_NONCE, VERIFY_ECHO));
        assert_eq!(c.decrypt(VERIFY_ECHO).unwrap(), "1616140317555161061");
    }

    #[test]
    fn official_message_vector() {
        let c = official();
        assert!(c.verify(MSG_SIG, MSG_TS, MSG_NONCE, MSG_ENCRYPT));
        let xml = c.decrypt(MSG_ENCRYPT).unwrap();
        assert!(xml.starts_with("<xml>"), "{xml}");
        assert!(xml.contains("<Content><![CDATA[hello]]></Content>"), "{xml}");
        assert!(xml.contains("<MsgId>4561255354251345929</MsgId>"), "{xml}");
    }

    #[test]
    fn forged_signature_and_wrong_receiver_are_refused() {
        let c = official();
        assert!(!c.verify(&"0".repeat(40), MSG_TS, MSG_NONCE, MSG_ENCRYPT));
        assert!(!c.verify(MSG_SIG, "1409659814", MSG_NONCE, MSG_ENCRYPT));
        assert!(!c.verify("", MSG_TS, MSG_NONCE, MSG_ENCRYPT));
        let other = MsgCrypt::new(TOKEN, AES_KEY, "ww-another-corp").unwrap();
        assert_eq!(other.decrypt(MSG_ENCRYPT), Err(CryptoError::WrongReceiver));
        // 智能机器人 callbacks carry an empty receive id; a CorpID-bearing message is not one.
        let bot = MsgCrypt::new(TOKEN, AES_KEY, "").unwrap();
        assert_eq!(bot.decrypt(MSG_ENCRYPT), Err(CryptoError::WrongReceiver));
    }

    #[test]
    fn round_trip_pads_to_32_bytes_and_handles_chinese() {
        let c = official();
        for msg in ["", "a", "帮助", &"督".repeat(40), &"x".repeat(12)] {
            let enc = c.encrypt_with(msg, [7u8; 16]);
            let raw = STANDARD.decode(&enc).unwrap();
            assert_eq!(raw.len() % 32, 0);
            assert_eq!(c.decrypt(&enc).unwrap(), msg);
        }
        // Random prefixes differ, so the same message encrypts differently.
        assert_ne!(c.encrypt("x"), c.encrypt("x"));
        let bot = MsgCrypt::new(TOKEN, AES_KEY, "").unwrap();
        assert_eq!(bot.decrypt(&bot.encrypt("{\"msgid\":\"1\"}")).unwrap(), "{\"msgid\":\"1\"}");
    }

    #[test]
    fn garbage_never_panics() {
        let c = official();
        for bad in
            ["", "!!!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA==", &STANDARD.encode([0u8; 32]), &STANDARD.encode([1u8; 48])]
        {
            assert!(c.decrypt(bad).is_err(), "{bad}");
        }
        // A valid ciphertext for a different key fails on padding or receiver, never panics.
        let other = MsgCrypt::new(TOKEN, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", CORP_ID).unwrap();
        assert!(other.decrypt(MSG_ENCRYPT).is_err());
        assert_eq!(decode_aes_key("short"), Err(CryptoError::BadKey));
        assert_eq!(decode_aes_key(&"*".repeat(43)), Err(CryptoError::BadKey));
    }
}
