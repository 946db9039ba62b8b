//! The bulletin as a Word document (.docx), built in memory from [`Bulletin`]: the title in a
//! 小标宋-like face, section headings in 黑体, body text in 仿宋 with a two-character first-line
//! indent (the layout of official documents, GB/T 9704), and the figures table after 基本情况.

use std::io::Cursor;

use docx_rs::{
    AlignmentType, Docx, LineSpacing, Paragraph, Run, RunFonts, Style, StyleType, Table, TableCell, TableRow, WidthType,
};

use super::{Bulletin, Section};

#[derive(Debug, thiserror::Error)]
#[error("cannot write the bulletin document: {0}")]
pub struct DocxError(String);

/// Font sizes in half-points: 二号 22 pt, 三号 16 pt, 小四 12 pt.
const TITLE_SIZE: usize = 44;
const BODY_SIZE: usize = 32;
const TABLE_SIZE: usize = 24;

fn fonts(east_asia: &str, latin: &str) -> RunFonts {
    RunFonts::new().east_asia(east_asia).ascii(latin).hi_ansi(latin)
}

fn styles(doc: Docx) -> Docx {
    doc.add_style(
        Style::new("BulletinTitle", StyleType::Paragraph)
            .name("Bulletin Title")
            .fonts(fonts("方正小标宋简体", "SimSun"))
            .size(TITLE_SIZE)
            .align(AlignmentType::Center)
            .line_spacing(LineSpacing::new().after(240)),
    )
    .add_style(
        Style::new("BulletinIssuer", StyleType::Paragraph)
            .name("Bulletin Issuer")
            .fonts(fonts("仿宋", "FangSong"))
            .size(BODY_SIZE)
            .align(AlignmentType::Center)
            .line_spacing(LineSpacing::new().after(240)),
    )
    .add_style(
        Style::new("BulletinHeading", StyleType::Paragraph)
            .name("Bulletin Heading")
            .fonts(fonts("黑体", "SimHei"))
            .size(BODY_SIZE)
            .line_spacing(LineSpacing::new().before(120).after(120))
            .first_line_chars(200),
    )
    .add_style(
        Style::new("BulletinBody", StyleType::Paragraph)
            .name("Bulletin Body")
            .fonts(fonts("仿宋", "FangSong"))
            .size(BODY_SIZE)
            .line_spacing(LineSpacing::new().line(360))
            .first_line_chars(200),
    )
    .add_style(
        Style::new("BulletinCell", StyleType::Paragraph)
            .name("Bulletin Cell")
            .fonts(fonts("仿宋", "FangSong"))
            .size(TABLE_SIZE)
            .align(AlignmentType::Center),
    )
    .add_style(
        Style::new("BulletinHeaderCell", StyleType::Paragraph)
            .name("Bulletin Header Cell")
            .fonts(fonts("黑体", "SimHei"))
            .size(TABLE_SIZE)
            .align(AlignmentType::Center),
    )
}

fn para(style: &str, text: &str) -> Paragraph {
    Paragraph::new().style(style).add_run(Run::new().add_text(text))
}

fn cell(style: &str, text: &str, width: usize) -> TableCell {
    TableCell::new().width(width, WidthType::Dxa).add_paragraph(para(style, text))
}

fn figures_table(b: &Bulletin) -> Table {
    // The A4 text width (about 8,800 twips), shared out: the first column is the widest.
    let n = b.table.header.len().max(1);
    let first = 1_900;
    let other = (8_800 - first) / n.saturating_sub(1).max(1);
    let width = |i: usize| if i == 0 { first } else { other };
    let header = TableRow::new(
        b.table.header.iter().enumerate().map(|(i, h)| cell("BulletinHeaderCell", h, width(i))).collect(),
    );
    let mut rows = vec![header];
    for r in &b.table.rows {
        rows.push(TableRow::new(r.iter().enumerate().map(|(i, c)| cell("BulletinCell", c, width(i))).collect()));
    }
    Table::new(rows).set_grid((0..n).map(width).collect())
}

/// The document's bytes.
pub fn to_docx(b: &Bulletin) -> Result<Vec<u8>, DocxError> {
    let mut doc = styles(Docx::new())
        .add_paragraph(para("BulletinTitle", &b.title))
        .add_paragraph(para("BulletinIssuer", &format!("{}    {}", b.issuer, b.date_line)));
    for s in &b.sections {
        doc = doc.add_paragraph(para("BulletinHeading", &s.section.heading()));
        for p in &s.paragraphs {
            doc = doc.add_paragraph(para("BulletinBody", p));
        }
        if s.section == Section::Basics && !b.table.rows.is_empty() {
            doc = doc
                .add_paragraph(para("BulletinHeaderCell", &format!("表1 {}", b.table.caption)))
                .add_table(figures_table(b))
                .add_paragraph(Paragraph::new().style("BulletinBody"));
        }
    }
    let mut out = Cursor::new(Vec::new());
    doc.build().pack(&mut out).map_err(|e| DocxError(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bulletin::{Month, Table as Figures};
    use crate::domain::bulletin::{SectionText, Target};
    use std::io::Read;

    #[test]
    fn a_document_with_every_section_and_the_table() {
        let b = Bulletin {
            month: Month::new(2026, 11).unwrap(),
            target: Target::county(),
            issue_no: 3,
            title: "示例县责任督学挂牌督导工作通报（2026年第3期）".into(),
            issuer: "示例县教育督导室".into(),
            date_line: "2026年12月2日".into(),
            sections: Section::ALL
                .into_iter()
                .map(|s| SectionText {
                    section: s, paragraphs: vec![format!("{}正文", s.title())], overridden: false
                })
                .collect(),
            table: Figures {
                caption: "主要指标".into(),
                header: vec!["责任区".into(), "整改率".into()],
                rows: vec![vec!["第一责任区".into(), "66.7%".into()]],
            },
        };
        let bytes = to_docx(&b).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        zip.by_name("word/document.xml").unwrap().read_to_string(&mut xml).unwrap();
        for s in Section::ALL {
            assert!(xml.contains(&s.heading()) && xml.contains(&format!("{}正文", s.title())), "{}", s.title());
        }
        assert!(xml.contains("示例县责任督学挂牌督导工作通报（2026年第3期）"));
        assert!(xml.contains("<w:tbl>") && xml.contains("66.7%") && xml.contains("表1 主要指标"));
        let mut styles = String::new();
        zip.by_name("word/styles.xml").unwrap().read_to_string(&mut styles).unwrap();
        assert!(styles.contains("黑体") && styles.contains("仿宋"), "the heading and body faces");
    }
}
