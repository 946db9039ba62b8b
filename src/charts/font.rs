//! The CJK font charts are drawn with: the configured file (`[charts] font`, or
//! `DUDAO_CHARTS__FONT`), else the first of the common install paths that exists and really
//! covers Chinese. Loaded on the first chart, then kept for the life of the process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};

/// Where Debian/Ubuntu (fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei), Fedora and
/// Arch (google-noto-sans-cjk, adobe-source-han-sans) and macOS put CJK fonts, most common
/// first.
pub const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    "/usr/share/fonts/opentype/source-han-sans/SourceHanSans-Regular.ttc",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSans-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
];

/// Characters a chart's titles and labels need; a font without them draws empty boxes.
const PROBE: &[char] = &['督', '导', '统', '计', '整', '改', '率', '责', '任', '区'];

/// Whether `bytes` are a font (the first face of a collection) with glyphs for Chinese.
pub fn covers_cjk(bytes: &[u8]) -> bool {
    FontRef::try_from_slice(bytes).is_ok_and(|f| PROBE.iter().all(|c| f.glyph_id(*c).0 != 0))
}

/// Why no font could be used, in words for the log.
fn unusable(path: &Path, bytes: &std::io::Result<Vec<u8>>) -> Option<String> {
    match bytes {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(b) if !covers_cjk(b) => Some(format!("{}: not a font with Chinese glyphs", path.display())),
        Ok(_) => None,
    }
}

/// The font file to use and its bytes: `configured` when set (and only it: a wrong setting is
/// reported, not papered over), else the first usable of [`CANDIDATES`].
pub fn locate(configured: &str) -> Result<(PathBuf, Vec<u8>), String> {
    let configured = configured.trim();
    if !configured.is_empty() {
        let path = PathBuf::from(configured);
        let bytes = std::fs::read(&path);
        return match unusable(&path, &bytes) {
            Some(why) => Err(format!("charts.font {why}")),
            None => Ok((path, bytes.unwrap_or_default())),
        };
    }
    for c in CANDIDATES {
        let path = Path::new(c);
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(path);
        if unusable(path, &bytes).is_none() {
            return Ok((path.to_path_buf(), bytes.unwrap_or_default()));
        }
    }
    Err("no CJK font found (charts.font is empty and none of the usual paths has one)".into())
}

static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Makes a font ready for [`super::render`] on the first call (reading it once; it then stays
/// in memory, about 20 MB for Noto Sans CJK); later calls answer from the first. `Err` says
/// why there is none: charts are then left out and the figures go as text.
pub fn ensure(configured: &str) -> Result<&'static Path, &'static str> {
    let loaded = LOADED.get_or_init(|| {
        let (path, bytes) = locate(configured)?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        super::use_font(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        tracing::info!(font = %path.display(), "chart font loaded");
        Ok(path)
    });
    match loaded {
        Ok(p) => Ok(p.as_path()),
        Err(e) => Err(e.as_str()),
    }
}

/// The start-up check: one warning when charts will be text only, so an operator learns it
/// before the first `统计`. Reads the font to check it, without keeping it.
pub fn check_at_startup(configured: &str) {
    match locate(configured) {
        Ok((path, _)) => tracing::info!(font = %path.display(), "charts will be drawn with this font"),
        Err(why) => tracing::warn!(
            reason = %why,
            "charts disabled: 统计 answers with text only; install a CJK font (apt-get install fonts-noto-cjk) or set [charts] font"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_fonts_do_not_cover_cjk() {
        assert!(!covers_cjk(b""));
        assert!(!covers_cjk(b"not a font at all"));
    }

    #[test]
    fn a_configured_path_that_is_wrong_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("无此字体.ttf");
        let e = locate(missing.to_str().unwrap()).unwrap_err();
        assert!(e.contains("charts.font") && e.contains("无此字体"), "{e}");
        let junk = dir.path().join("junk.ttf");
        std::fs::write(&junk, b"junk").unwrap();
        let e = locate(junk.to_str().unwrap()).unwrap_err();
        assert!(e.contains("Chinese glyphs"), "{e}");
    }
}
