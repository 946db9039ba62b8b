//! `dudao roster template`: an empty workbook for the office to fill, with one example row per
//! sheet and a 说明 (instructions) sheet. Example rows carry [`EXAMPLE_MARKER`] and are refused
//! at import until replaced, so an untouched template never imports a fictional person.

use super::model::Sheet;
use super::office::EXAMPLE_MARKER;
use super::read::RosterError;
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::path::Path;

/// Which roster shape the template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// One sheet of inspectors with their 挂牌学校, the way offices keep it.
    Office,
    /// The three documented tables: 责任区, 学校, 人员.
    Full,
}

const OFFICE_HEADER: &[&str] =
    &["序号", "姓名", "编号", "督学类型", "工作单位", "职务", "联系电话", "QQ", "挂牌学校", "责任区"];

fn ex(s: &str) -> String {
    format!("{s}{EXAMPLE_MARKER}")
}

fn office_example() -> Vec<String> {
    vec![
        "1".into(),
        ex("张老师"),
        String::new(),
        "兼职".into(),
        "示例镇中心学校".into(),
        "兼职督学".into(),
        "19900000000".into(),
        String::new(),
        format!("{}、{}", ex("示例镇中心小学"), ex("示例镇初级中学")),
        "第一责任区".into(),
    ]
}

fn full_examples(sheet: Sheet) -> Vec<String> {
    let v: Vec<String> = match sheet {
        Sheet::Zones => vec!["Z01".into(), ex("第一责任区"), "县级".into(), "D001".into()],
        Sheet::Schools => vec![
            "3000000001".into(),
            ex("示例县实验小学"),
            "实验小学".into(),
            "县实小".into(),
            "Z01".into(),
            "小学".into(),
            "公办".into(),
            "否".into(),
            "否".into(),
            "D001".into(),
            String::new(),
            String::new(),
        ],
        Sheet::People => vec![
            "D001".into(),
            ex("张老师"),
            "责任督学".into(),
            "专职".into(),
            "Z01".into(),
            String::new(),
            "专职督学".into(),
            "19900000000".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
    };
    v
}

const OFFICE_HELP: &[&str] = &[
    "督学名单填写说明",
    "1. 每位责任督学一行；标题行、空行会被跳过，列的顺序可以调整。",
    "2. 姓名必填；编号可不填，系统按表中顺序生成 D001、D002…，已在系统中的督学沿用原编号。",
    "3. 督学类型填“专职”“兼职”或“特约”；不填时按职务判断，仍无法判断的按兼职。",
    "4. 挂牌学校可填多所，用顿号、逗号、分号或空格隔开；第一位列出某校的督学为该校主责督学，其他为协同督学。",
    "5. 同一工作簿中若有“学校”工作表（学校代码、学校名称、责任区、学段），挂牌学校须与其中校名一致；没有学校表时按校名新建学校，学段从校名判断。",
    "6. 责任区填名称；不填时归入“默认责任区”。",
    "7. 联系电话填手机号或带区号的座机；QQ 填写后本人可直接私聊机器人，无需绑定码。",
    "8. 第3行是示例（带“（示例）”字样），请改成本县的真实信息或删除，否则导入时会被拒绝。",
    "9. 填好后先运行 dudao roster import --check 文件名 检查，再去掉 --check 导入。",
];

const FULL_HELP: &[&str] = &[
    "花名册填写说明",
    "1. 本工作簿含“责任区”“学校”“人员”三张表，表名和表头请勿修改；列的顺序可以调整。",
    "2. 责任区：编号、名称必填；级别填“县级”或“市级”；组长填督学编号或姓名。",
    "3. 学校：学校代码、学校名称、责任区、学段必填；主责督学、协同督学、回避督学填督学编号或姓名，多人用顿号隔开。",
    "4. 人员：编号、姓名、角色必填；角色为管理员、督导室、责任督学、学校联络员或校长等；责任督学须填督学类型（专职、兼职、特约），专职、兼职督学须填责任区；学校联络员须填所属学校。",
    "5. 各表第2行是示例（带“（示例）”字样），请改成本县的真实信息或删除，否则导入时会被拒绝。",
    "6. 填好后先运行 dudao roster import --check 文件名 检查，再去掉 --check 导入。",
];

/// Writes the template workbook.
pub fn write_template(kind: TemplateKind, path: &Path) -> Result<(), RosterError> {
    let write_err = |e: XlsxError| RosterError::Write { path: path.to_path_buf(), message: e.to_string() };
    let mut wb = build(kind).map_err(write_err)?;
    wb.save(path).map_err(write_err)
}

fn build(kind: TemplateKind) -> Result<Workbook, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let table = |wb: &mut Workbook, name: &str, title: Option<&str>, header: &[&str], example: Vec<String>| {
        let ws = wb.add_worksheet();
        ws.set_name(name)?;
        let mut row = 0;
        if let Some(title) = title {
            ws.merge_range(0, 0, 0, header.len().saturating_sub(1) as u16, title, &bold)?;
            row = 1;
        }
        for (c, h) in header.iter().enumerate() {
            // Text cells, so codes, phones and QQ numbers keep their digits and leading zeros.
            ws.set_column_format(c as u16, &text)?;
            ws.set_column_width(c as u16, if h.contains("学校") { 36 } else { 14 })?;
            ws.write_string_with_format(row, c as u16, *h, &bold)?;
        }
        for (c, v) in example.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(row + 1, c as u16, v)?;
            }
        }
        Ok::<(), XlsxError>(())
    };
    let help = match kind {
        TemplateKind::Office => {
            table(&mut wb, "督学名单", Some("XX县责任督学名单"), OFFICE_HEADER, office_example())?;
            OFFICE_HELP
        }
        TemplateKind::Full => {
            for sheet in Sheet::ALL {
                table(&mut wb, sheet.label(), None, sheet.columns(), full_examples(sheet))?;
            }
            FULL_HELP
        }
    };
    let ws = wb.add_worksheet();
    ws.set_name("说明")?;
    ws.set_column_width(0, 110)?;
    for (i, line) in help.iter().enumerate() {
        if i == 0 {
            ws.write_string_with_format(0, 0, *line, &bold)?;
        } else {
            ws.write_string(i as u32, 0, *line)?;
        }
    }
    Ok(wb)
}
