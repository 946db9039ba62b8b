//! Files sent through chats: the texts that stand in for a file where a channel cannot carry
//! one, download-token hashing, and the `Content-Disposition` header for a download.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// A size as people read it: "850 字节", "12.3 KB", "4.1 MB".
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} 字节")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / (KB * KB))
    }
}

/// The message carrying a one-time download link.
pub fn link_text(name: &str, size: u64, url: &str, hours: i64) -> String {
    format!("文件《{name}》（{}）请在 {hours} 小时内下载，链接只能使用一次：\n{url}", human_size(size))
}

/// The message when the channel cannot carry the file and no public address is configured:
/// the file is not silently dropped, the reader learns why it did not come.
pub fn no_link_text(name: &str, size: u64) -> String {
    format!(
        "文件《{name}》（{}）已生成，但本渠道不能直接发送这个文件（渠道不支持文件或文件过大），\
         且服务未配置公开访问地址（http.public_url），无法提供下载链接。请联系管理员配置，\
         或在 QQ、企业微信、Telegram 中重新获取。",
        human_size(size)
    )
}

/// A token as stored: hex SHA-256, so the database never holds a usable link.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plausible token (what [`token_hash`] is worth computing for): URL-safe base64, not huge.
pub fn is_token_shaped(token: &str) -> bool {
    (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 5987 `attr-char`s pass unencoded; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` for downloading `name`: an ASCII `filename` for old clients (other
/// characters become '_', the extension kept) and the exact name as RFC 5987 `filename*`.
pub fn content_disposition(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A file name safe to create in a directory: no path separators, no control characters, no
/// leading dots; never empty.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':') { '_' } else { c }).collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "file".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 字节");
        assert_eq!(human_size(1023), "1023 字节");
        assert_eq!(human_size(1024), "1.0 KB");
        assert_eq!(human_size(12_595), "12.3 KB");
        assert_eq!(human_size(3 * 1024 * 1024 + 200 * 1024), "3.2 MB");
    }

    #[test]
    fn content_disposition_carries_the_chinese_name() {
        let h = content_disposition("周报统计 2026-11.xlsx");
        assert_eq!(
            h,
            "attachment; filename=\"____ 2026-11.xlsx\"; \
             filename*=UTF-8''%E5%91%A8%E6%8A%A5%E7%BB%9F%E8%AE%A1%202026-11.xlsx"
        );
        // Quotes and backslashes cannot break out of the quoted fallback.
        let h = content_disposition("a\"b\\c.docx");
        assert!(h.starts_with("attachment; filename=\"a_b_c.docx\"; filename*=UTF-8''a%22b%5Cc.docx"), "{h}");
    }

    #[test]
    fn tokens_are_stored_hashed() {
        let h = token_hash("abc");
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(is_token_shaped("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"));
        assert!(!is_token_shaped("short"));
        assert!(!is_token_shaped("../../etc/passwd/../../../xx"));
    }

    #[test]
    fn file_names_cannot_leave_the_directory() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("督导通报.docx"), "督导通报.docx");
        assert_eq!(safe_file_name(" .. "), "file");
        assert_eq!(safe_file_name("a\nb.txt"), "a_b.txt");
    }

    #[test]
    fn texts_name_the_file_and_the_limits() {
        let t = link_text("周报.xlsx", 2048, "https://d.example.org/files/t", 24);
        assert!(
            t.contains("《周报.xlsx》") && t.contains("2.0 KB") && t.contains("24 小时") && t.ends_with("/files/t")
        );
        let t = no_link_text("周报.xlsx", 10);
        assert!(t.contains("《周报.xlsx》") && t.contains("http.public_url"), "{t}");
    }
}
