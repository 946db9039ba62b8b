//! `统计` with a configured font that cannot be used: the figures still come, as text alone.
//! A test binary of its own, since the chart font, once loaded, stays for the process.

mod common;

use common::Harness;

#[tokio::test]
async fn without_a_usable_font_the_figures_come_as_text_only() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_font = dir.path().join("不是字体.ttf");
    std::fs::write(&not_a_font, "这不是字体文件").unwrap();
    let extra = format!("[charts]\nfont = \"{}\"\n", not_a_font.display().to_string().replace('\\', "/"));
    let mut h = Harness::start_with(&extra, None).await;
    h.bind("sup", "S001").await;
    let out = h.say("sup: 统计 整改").await;
    assert!(out.contains("整改统计（") && out.contains("登记问题 0 个"), "{out}");
    assert!(!out.contains("[图片]") && !out.contains("[文件]"), "{out}");
    let images: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox_files").fetch_one(h.db()).await.unwrap();
    assert_eq!(images, 0, "no picture was made");
    h.stop().await;
}
