//! Supervisor notices (通知): `发通知 <对象> <内容> [需回执]`. Who a notice goes to is written the
//! way task targets are (`domain::task` resolves the words); this module only splits the command.

use super::task::{split_names, target_from_item, Target};
use super::text::normalize;

pub const MAX_BODY_CHARS: usize = 1000;

/// The visible id of a notice.
pub fn notice_code(id: i64) -> String {
    format!("N{id}")
}

/// `N12`, `n12`, `N12 …`: a notice id at the start of the arguments, and the rest.
pub fn parse_notice_ref(s: &str) -> Option<(i64, &str)> {
    let s = s.trim();
    let rest = s.strip_prefix(['N', 'n']).unwrap_or(s);
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let id: i64 = rest[..digits].parse().ok()?;
    let after = &rest[digits..];
    // "N12号" is fine, "N12a" is not a reference.
    if after.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    (id > 0).then(|| (id, after.trim()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeSpec {
    pub targets: Vec<Target>,
    /// As typed (not normalised): it is what recipients read.
    pub body: String,
    /// 回执: recipients are asked to acknowledge.
    pub receipt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("请写明通知对象和内容，例如：发通知 全体督学 周五下午三点开督学例会 需回执。对象可以是姓名、编号、责任区、学校、全体督学、全部学校，多个用顿号分开。")]
    MissingTargets,
    #[error("请写明通知内容，例如：发通知 全体督学 周五下午三点开督学例会。")]
    MissingBody,
    #[error("通知内容太长（最多{MAX_BODY_CHARS}字），请精简或分几条发送。")]
    BodyTooLong,
}

/// Words that ask for a receipt when they stand alone at the start or end of the text.
const RECEIPT_WORDS: &[&str] = &["需要回执", "需回执", "要回执", "请回执", "回执"];

fn strip_label<'a>(s: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|l| s.strip_prefix(l)).and_then(|r| r.strip_prefix([':', '：'])).map(str::trim_start)
}

/// Splits `发通知` arguments. Without platform mentions the first word (up to a space, line break
/// or colon) lists the targets, optionally labelled `对象:`; the rest is the body, optionally
/// labelled `内容:`. With mentions and no `对象:` label, all the text is the body.
pub fn parse_notice(args: &str, has_mentions: bool) -> Result<NoticeSpec, NoticeError> {
    let mut s = args.trim();
    let labelled = strip_label(s, &["通知对象", "对象", "接收人"]);
    let mut targets = Vec::new();
    if labelled.is_some() || !has_mentions {
        s = labelled.unwrap_or(s);
        // "全体督学：明天开会" — a colon after the recipients ends them as a space does.
        let (list, rest) = s.split_once(|c: char| c.is_whitespace() || c == ':' || c == '：').unwrap_or((s, ""));
        targets = split_names(&normalize(list)).iter().filter_map(|n| target_from_item(n)).collect();
        s = rest.trim();
    }
    if targets.is_empty() && !has_mentions {
        return Err(NoticeError::MissingTargets);
    }
    let mut receipt = false;
    loop {
        let before = s;
        for w in RECEIPT_WORDS {
            if let Some(r) = s.strip_prefix(w).filter(|r| r.is_empty() || r.starts_with(char::is_whitespace)) {
                s = r.trim_start();
                receipt = true;
            }
            if let Some(r) = s.strip_suffix(w).filter(|r| r.is_empty() || r.ends_with(char::is_whitespace)) {
                s = r.trim_end();
                receipt = true;
            }
        }
        if s == before {
            break;
        }
    }
    let body = strip_label(s, &["通知内容", "内容"]).unwrap_or(s).trim().to_string();
    if body.is_empty() {
        return Err(NoticeError::MissingBody);
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(NoticeError::BodyTooLong);
    }
    Ok(NoticeSpec { targets, body, receipt })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(s: &str) -> Target {
        Target::Named(s.into())
    }

    #[test]
    fn targets_body_and_receipt() {
        let n = parse_notice("史芳、韩伟 周四开例会 需回执", false).unwrap();
        assert_eq!(n.targets, vec![named("史芳"), named("韩伟")]);
        assert_eq!(n.body, "周四开例会");
        assert!(n.receipt);
        let n = parse_notice("对象：全体督学 内容：下周一停电，系统暂停", false).unwrap();
        assert_eq!(n.targets, vec![Target::AllInspectors]);
        assert_eq!(n.body, "下周一停电，系统暂停");
        assert!(!n.receipt);
        let n = parse_notice("全部学校 回执\n请于周五前上报名单", false).unwrap();
        assert_eq!((n.targets, n.body.as_str(), n.receipt), (vec![Target::AllSchools], "请于周五前上报名单", true));
        // "回执" inside a sentence is text, not the flag.
        let n = parse_notice("Z01 请各校周五前交回执单", false).unwrap();
        assert!(!n.receipt && n.body == "请各校周五前交回执单");
        let n = parse_notice("全体督学：明天上午九点开会", false).unwrap();
        assert_eq!((n.targets, n.body.as_str()), (vec![Target::AllInspectors], "明天上午九点开会"));
        // Mentions: all the text is the body.
        let n = parse_notice("明天上午九点开会", true).unwrap();
        assert!(n.targets.is_empty() && n.body == "明天上午九点开会");
    }

    #[test]
    fn errors_and_refs() {
        assert_eq!(parse_notice("", false), Err(NoticeError::MissingTargets));
        assert_eq!(parse_notice("全体督学", false), Err(NoticeError::MissingBody));
        assert_eq!(parse_notice("全体督学 需回执", false), Err(NoticeError::MissingBody));
        assert_eq!(parse_notice(&format!("全体督学 {}", "长".repeat(1001)), false), Err(NoticeError::BodyTooLong));
        assert_eq!(parse_notice_ref("N12"), Some((12, "")));
        assert_eq!(parse_notice_ref("n3 好的"), Some((3, "好的")));
        assert_eq!(parse_notice_ref("7"), Some((7, "")));
        assert_eq!(parse_notice_ref("N"), None);
        assert_eq!(parse_notice_ref("T3"), None);
        assert_eq!(parse_notice_ref("N3a"), None);
        assert_eq!(parse_notice_ref("N0"), None);
    }
}
