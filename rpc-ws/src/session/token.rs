//! Resume tokens: `<id>.<secret>`, 16 and 32 lowercase hex digits from the
//! OS random number generator. The server finds a session by its id and
//! compares the secret in constant time.

use std::fmt;

/// A session's resume token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) id: u64,
    secret: [u8; 16],
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        write!(f, "Token({:016x}.<secret>)", self.id)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}.", self.id)?;
        self.secret.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl Token {
    /// A new token from the OS random number generator.
    pub(crate) fn random() -> Result<Token, getrandom::Error> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 16];
        getrandom::fill(&mut id)?;
        getrandom::fill(&mut secret)?;
        Ok(Token {
            id: u64::from_be_bytes(id),
            secret,
        })
    }

    /// A token's text as [`Token`]'s `Display` writes it; `None` if malformed.
    pub(crate) fn parse(text: &str) -> Option<Token> {
        let (id, secret) = text.split_once('.')?;
        if id.len() != 16 || secret.len() != 32 || !is_lower_hex(id) || !is_lower_hex(secret) {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&secret[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Token {
            id: u64::from_str_radix(id, 16).ok()?,
            secret: bytes,
        })
    }

    /// Whether `other` has this token's secret, in a time that does not
    /// depend on where the two differ.
    pub(crate) fn secret_matches(&self, other: &Token) -> bool {
        let diff = self
            .secret
            .iter()
            .zip(&other.secret)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_differ() {
        let token = Token::random().unwrap();
        let text = token.to_string();
        assert_eq!(text.len(), 16 + 1 + 32);
        assert_eq!(Token::parse(&text), Some(token.clone()));
        assert_ne!(Token::random().unwrap(), token);
        assert!(!format!("{token:?}").contains(&text[17..]), "Debug hides the secret");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let text = Token::random().unwrap().to_string();
        for bad in [
            String::new(),
            "abc.def".into(),
            text.to_uppercase(),
            text.replace('.', ""),
            format!("{text}0"),
            format!("+{}", &text[1..]),
        ] {
            assert_eq!(Token::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_compare_in_full() {
        let token = Token::random().unwrap();
        let mut other = token.clone();
        assert!(token.secret_matches(&other));
        other.secret[15] ^= 1;
        assert!(!token.secret_matches(&other));
    }
}
