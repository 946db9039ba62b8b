//! Masking personal data for group chats.

/// `19900001234` → `199****1234`; landlines keep the area code and last 4 digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let keep_tail = 4;
    let keep_head = if phone.starts_with('0') { phone.find('-').map_or(3, |i| i + 1) } else { 3 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= chars.len() - keep_tail { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn masks() {
        assert_eq!(mask_phone("19900001234"), "199****1234");
        assert_eq!(mask_phone("0571-88881234"), "0571-****1234");
        assert_eq!(mask_phone("123"), "***");
    }
}
