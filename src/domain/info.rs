//! 信息报送: information items the office submits upward (≥ `[info] per_month` a month). The
//! chat command arguments, the month's figures per county and zone, and the texts.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::bulletin::Month;
use super::stats::info::{info_figures, InfoFigures, InfoRow};
use super::stats::Scope;

/// The longest title kept (a headline, not the article).
pub const MAX_TITLE_CHARS: usize = 100;

pub const SUBMIT_USAGE: &str = "用法：报送 <标题> [链接] [报送至 单位]，例如：报送 我县开展秋季开学专项督导 https://example.cn/a/1 报送至 省督导网";
pub const DECIDE_USAGE: &str = "用法：报送采用 X3 [备注] 或 报送未采用 X3 [备注]";

/// The words that start the receiver's part ("报送至 省督导网").
const TO_MARKERS: [&str; 3] = ["报送至", "报送到", "报至"];

/// `报送` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub title: String,
    pub link: Option<String>,
    pub to: Option<String>,
}

fn is_link(w: &str) -> bool {
    ["http://", "https://"].iter().any(|p| w.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

/// Parses `<标题> [链接] [报送至 …]`; the error is the reply.
pub fn parse_submit(args: &str) -> Result<Submission, String> {
    let (head, to) = match TO_MARKERS.iter().filter_map(|m| args.find(m).map(|at| (at, m.len()))).min() {
        Some((at, len)) => {
            let to = args[at + len..].trim().trim_start_matches([':', '：']).trim();
            if to.is_empty() {
                return Err(format!("“报送至”后面请写报送的单位或平台。{SUBMIT_USAGE}"));
            }
            (&args[..at], Some(to.to_string()))
        }
        None => (args, None),
    };
    let mut link = None;
    let mut words = Vec::new();
    for w in head.split_whitespace() {
        if is_link(w) {
            if link.is_some() {
                return Err("一条信息只能写一个链接。".into());
            }
            link = Some(w.to_string());
        } else {
            words.push(w);
        }
    }
    let title = words.join(" ");
    if title.is_empty() {
        return Err(format!("请写明信息的标题。{SUBMIT_USAGE}"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("标题太长了（不超过{MAX_TITLE_CHARS}字），正文请用链接。"));
    }
    Ok(Submission { title, link, to })
}

/// An item's code in chat: "X3".
pub fn code(id: i64) -> String {
    format!("X{id}")
}

/// Parses `X3 [备注]` (the X may be left out); the error is the reply.
pub fn parse_ref(args: &str) -> Result<(i64, Option<&str>), String> {
    let args = args.trim();
    let Some(first) = args.split_whitespace().next() else {
        return Err(format!("请写明信息编号。{DECIDE_USAGE}"));
    };
    let digits = first.strip_prefix(['X', 'x', 'Ｘ']).unwrap_or(first);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 => {
            let note = args[first.len()..].trim();
            Ok((id, (!note.is_empty()).then_some(note)))
        }
        _ => Err(format!("“{first}”不是信息编号（报送时回复的 X 开头的编号）。{DECIDE_USAGE}")),
    }
}

/// An item as the month's figures and list read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFact {
    pub id: i64,
    pub title: String,
    pub submitter: Option<String>,
    pub person_id: Option<i64>,
    pub zone_id: Option<i64>,
    pub to: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub accepted: Option<bool>,
}

impl ItemFact {
    fn row(&self, tz: Tz) -> InfoRow {
        InfoRow {
            id: self.id,
            person_id: self.person_id,
            zone_id: self.zone_id,
            submitted: local_day(self.submitted_at, tz),
            accepted: self.accepted,
        }
    }
}

/// The office's local day of an instant: the month an item counts in.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// A month's figures: the county and each zone that submitted (zone `None`: the office itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    pub month: Month,
    pub per_month: u32,
    pub county: InfoFigures,
    pub zones: Vec<(Option<i64>, InfoFigures)>,
}

impl MonthFigures {
    pub fn short(&self) -> u64 {
        self.county.short_of(u64::from(self.per_month))
    }
}

/// The figures of `month` over `items` (any months; those of other months are left out).
pub fn month_figures(items: &[ItemFact], tz: Tz, month: Month, per_month: u32) -> MonthFigures {
    let period = month.period();
    let rows: Vec<InfoRow> = items.iter().map(|i| i.row(tz)).collect();
    let mut zones: Vec<Option<i64>> = rows.iter().filter(|r| period.contains(r.submitted)).map(|r| r.zone_id).collect();
    zones.sort_unstable();
    zones.dedup();
    let zones = zones
        .into_iter()
        .map(|z| {
            let f = match z {
                Some(id) => info_figures(&rows, period, Scope::Zone(id)),
                None => {
                    let office: Vec<InfoRow> = rows.iter().filter(|r| r.zone_id.is_none()).cloned().collect();
                    info_figures(&office, period, Scope::County)
                }
            };
            (z, f)
        })
        .collect();
    MonthFigures { month, per_month, county: info_figures(&rows, period, Scope::County), zones }
}

fn decision(accepted: Option<bool>) -> &'static str {
    match accepted {
        Some(true) => "已采用",
        Some(false) => "未采用",
        None => "待定",
    }
}

fn rule_phrase(f: &MonthFigures) -> String {
    match f.short() {
        0 => format!("要求每月不少于{}条，已达标", f.per_month),
        n => format!("要求每月不少于{}条，还差{n}条", f.per_month),
    }
}

/// The reply to `报送`.
pub fn recorded_text(id: i64, s: &Submission, f: &MonthFigures) -> String {
    let to = s.to.as_deref().map(|t| format!("（报送至{t}）")).unwrap_or_default();
    format!(
        "已登记信息 {}：《{}》{to}。{}已报送{}条（{}）。采用情况确定后请发“报送采用 {}”或“报送未采用 {}”。",
        code(id),
        s.title,
        f.month.label(),
        f.county.submitted,
        rule_phrase(f),
        code(id),
        code(id),
    )
}

/// The reply to `报送情况`: the month against the rule, per zone, then the items.
pub fn status_text(f: &MonthFigures, items: &[ItemFact], tz: Tz, zone_name: impl Fn(i64) -> String) -> String {
    let c = &f.county;
    if c.submitted == 0 {
        return format!(
            "{}尚未报送信息（{}）。报送后请发“报送 <标题> [链接] [报送至 单位]”登记。",
            f.month.label(),
            rule_phrase(f)
        );
    }
    let mut out = format!(
        "{}信息报送：已报送{}条（{}），采用{}条，未采用{}条，待定{}条。",
        f.month.label(),
        c.submitted,
        rule_phrase(f),
        c.accepted,
        c.rejected,
        c.pending
    );
    let zones: Vec<String> = f
        .zones
        .iter()
        .map(|(z, zf)| format!("{}{}条", z.map_or_else(|| "督导室".to_string(), &zone_name), zf.submitted))
        .collect();
    out.push_str(&format!("\n按责任区：{}。", zones.join("、")));
    let period = f.month.period();
    let mut n = 0;
    for i in items.iter().filter(|i| period.contains(local_day(i.submitted_at, tz))) {
        n += 1;
        let day = local_day(i.submitted_at, tz);
        let to = i.to.as_deref().map(|t| format!("，报送至{t}")).unwrap_or_default();
        out.push_str(&format!(
            "\n{n}. {} {}月{}日《{}》{}{to}，{}",
            code(i.id),
            day.month(),
            day.day(),
            i.title,
            i.submitter.as_deref().unwrap_or("（已离任）"),
            decision(i.accepted)
        ));
    }
    out
}

/// The reminder on `remind_day` when the month is short of the rule.
pub fn remind_text(f: &MonthFigures) -> String {
    format!(
        "信息报送提醒：{}已报送{}条信息，按要求每月不少于{}条，还差{}条。请在月底前报送，报送后发“报送 <标题> [链接] [报送至 单位]”登记。",
        f.month.label(),
        f.county.submitted,
        f.per_month,
        f.short()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn item(id: i64, zone: Option<i64>, when: DateTime<Utc>, accepted: Option<bool>) -> ItemFact {
        ItemFact {
            id,
            title: format!("测试信息{id}"),
            submitter: Some("王督学".into()),
            person_id: Some(7),
            zone_id: zone,
            to: None,
            submitted_at: when,
            accepted,
        }
    }

    #[test]
    fn submit_arguments() {
        let s = parse_submit("我县开展秋季开学专项督导 https://example.cn/a/1 报送至 省督导网").unwrap();
        assert_eq!(s.title, "我县开展秋季开学专项督导");
        assert_eq!(s.link.as_deref(), Some("https://example.cn/a/1"));
        assert_eq!(s.to.as_deref(), Some("省督导网"));
        let s = parse_submit("HTTPS://x.cn/1 校园安全 检查简讯").unwrap();
        assert_eq!((s.title.as_str(), s.link.as_deref(), s.to), ("校园安全 检查简讯", Some("HTTPS://x.cn/1"), None));
        assert_eq!(parse_submit("简讯 报送至：市教育局").unwrap().to.as_deref(), Some("市教育局"));
        assert!(parse_submit("").unwrap_err().contains("标题"));
        assert!(parse_submit("https://x.cn/1").unwrap_err().contains("标题"));
        assert!(parse_submit("简讯 报送至").unwrap_err().contains("报送至"));
        assert!(parse_submit("简讯 http://a.cn http://b.cn").unwrap_err().contains("一个链接"));
        assert!(parse_submit(&"长".repeat(101)).unwrap_err().contains("太长"));
    }

    #[test]
    fn item_references() {
        assert_eq!(parse_ref("X3"), Ok((3, None)));
        assert_eq!(parse_ref(" x12 省网首页刊发 "), Ok((12, Some("省网首页刊发"))));
        assert_eq!(parse_ref("5"), Ok((5, None)));
        assert!(parse_ref("").is_err());
        assert!(parse_ref("X0").is_err());
        assert!(parse_ref("甲").unwrap_err().contains("不是信息编号"));
    }

    #[test]
    fn a_month_with_none() {
        let nov = Month::new(2026, 11).unwrap();
        let f = month_figures(&[], SH, nov, 2);
        assert_eq!((f.county.submitted, f.short(), f.zones.len()), (0, 2, 0));
        let text = status_text(&f, &[], SH, |_| unreachable!());
        assert!(text.contains("2026年11月尚未报送信息（要求每月不少于2条，还差2条）"), "{text}");
        assert!(remind_text(&f).contains("已报送0条信息，按要求每月不少于2条，还差2条"));
    }

    #[test]
    fn the_month_boundary_is_local() {
        // 2026-11-30 16:30 UTC is 1 December 00:30 in Shanghai: December's item. 2026-10-31 16:00
        // UTC is 1 November 00:00: November's. 2026-11-30 15:59 UTC is 30 Nov 23:59: November's.
        let items = [
            item(1, Some(5), at(2026, 11, 30, 16, 30), None),
            item(2, Some(5), at(2026, 10, 31, 16, 0), Some(true)),
            item(3, None, at(2026, 11, 30, 15, 59), Some(false)),
            item(4, Some(6), at(2026, 10, 31, 15, 59), None),
        ];
        let nov = month_figures(&items, SH, Month::new(2026, 11).unwrap(), 2);
        assert_eq!((nov.county.submitted, nov.county.accepted, nov.county.rejected, nov.short()), (2, 1, 1, 0));
        assert_eq!(nov.zones.len(), 2);
        assert_eq!((nov.zones[0].0, nov.zones[0].1.submitted), (None, 1));
        assert_eq!((nov.zones[1].0, nov.zones[1].1.submitted), (Some(5), 1));
        let dec = month_figures(&items, SH, Month::new(2026, 12).unwrap(), 2);
        assert_eq!((dec.county.submitted, dec.county.pending, dec.short()), (1, 1, 1));
        let oct = month_figures(&items, SH, Month::new(2026, 10).unwrap(), 2);
        assert_eq!((oct.county.submitted, oct.short()), (1, 1));

        let text = status_text(&nov, &items, SH, |z| format!("第{z}区"));
        assert!(
            text.starts_with(
                "2026年11月信息报送：已报送2条（要求每月不少于2条，已达标），采用1条，未采用1条，待定0条。"
            ),
            "{text}"
        );
        assert!(text.contains("按责任区：督导室1条、第5区1条。"), "{text}");
        assert!(text.contains("1. X2 11月1日《测试信息2》王督学，已采用"), "{text}");
        assert!(text.contains("2. X3 11月30日《测试信息3》王督学，未采用"), "{text}");
        assert!(!text.contains("X1 "), "December's item is not listed: {text}");
    }
}
