//! Showing a problem's evidence photos (`证据 W12`): the page argument, the file extension a
//! stored photo should carry, and which stored relative paths may be read at all.

use std::path::{Component, Path, PathBuf};

/// Photos sent per request; the rest are reached with `第2页`, `第3页`, ….
pub const PAGE: usize = 9;

/// The page asked for after the item code: nothing (page 1), `第2页`, `2`, `p2`.
/// `None` when the text is not a page number.
pub fn parse_page(rest: &str) -> Option<usize> {
    let t = rest.trim();
    if t.is_empty() {
        return Some(1);
    }
    let t = t.strip_prefix('第').map(|s| s.strip_suffix('页').unwrap_or(s)).unwrap_or(t);
    let t = t.strip_suffix('页').unwrap_or(t);
    let t = t.strip_prefix(['p', 'P']).unwrap_or(t).trim();
    t.parse::<usize>().ok().filter(|n| *n >= 1)
}

/// Pages needed for `n` photos (at least one, so an empty list is "page 1 of 1").
pub fn pages(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
}

/// The extension for a photo by its first bytes. Files are stored under their hash without an
/// extension, and chat clients open a file by its name; unknown content is not called a JPEG.
pub fn image_ext(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, 0xff, ..] => "jpg",
        [0x89, b'P', b'N', b'G', ..] => "png",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'B', b'M', ..] => "bmp",
        _ => "bin",
    }
}

/// A stored path (relative to the evidence directory) as a path that cannot leave that
/// directory: plain names only, no `..`, no root, no drive prefix. `None` otherwise.
pub fn safe_relative(rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.contains('\\') || rel.contains('\0') {
        return None;
    }
    let path = Path::new(rel);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// A size limit as people read it: "10 MB", "1.5 MB", "512 KB", "300 字节".
pub fn size_label(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    let trim = |v: f64| {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    };
    if bytes >= MB {
        format!("{} MB", trim(bytes as f64 / MB as f64))
    } else if bytes >= KB {
        format!("{} KB", trim(bytes as f64 / KB as f64))
    } else {
        format!("{bytes} 字节")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels() {
        assert_eq!(size_label(10 * 1024 * 1024), "10 MB");
        assert_eq!(size_label(3 * 1024 * 1024 / 2), "1.5 MB");
        assert_eq!(size_label(4096), "4 KB");
        assert_eq!(size_label(300), "300 字节");
    }

    #[test]
    fn pages_are_read_in_the_ways_people_write_them() {
        assert_eq!(parse_page(""), Some(1));
        assert_eq!(parse_page("  "), Some(1));
        assert_eq!(parse_page("第2页"), Some(2));
        assert_eq!(parse_page("2"), Some(2));
        assert_eq!(parse_page("p3"), Some(3));
        assert_eq!(parse_page("3页"), Some(3));
        assert_eq!(parse_page("第0页"), None);
        assert_eq!(parse_page("全部"), None);
        assert_eq!(parse_page("-1"), None);
    }

    #[test]
    fn page_counts() {
        assert_eq!(pages(0), 1);
        assert_eq!(pages(9), 1);
        assert_eq!(pages(10), 2);
        assert_eq!(pages(18), 2);
        assert_eq!(pages(19), 3);
    }

    #[test]
    fn extensions_follow_the_content() {
        assert_eq!(image_ext(b"\xff\xd8\xff\xe0JFIF"), "jpg");
        assert_eq!(image_ext(b"\x89PNG\r\n\x1a\n"), "png");
        assert_eq!(image_ext(b"GIF89a"), "gif");
        assert_eq!(image_ext(b"RIFF\x10\x00\x00\x00WEBPVP8 "), "webp");
        assert_eq!(image_ext(b"BM\x00"), "bmp");
        assert_eq!(image_ext(b"<html>"), "bin");
        assert_eq!(image_ext(b""), "bin");
    }

    #[test]
    fn stored_paths_cannot_leave_the_directory() {
        assert_eq!(safe_relative("ab/abcdef"), Some(PathBuf::from("ab/abcdef")));
        assert_eq!(safe_relative("./ab/x"), Some(PathBuf::from("ab/x")));
        assert_eq!(safe_relative("../secret"), None);
        assert_eq!(safe_relative("ab/../../etc/passwd"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative("ab\\..\\x"), None);
        assert_eq!(safe_relative(""), None);
        assert_eq!(safe_relative("."), None);
    }
}
