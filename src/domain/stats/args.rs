//! Period and scope arguments as people type them (exports, statistics commands): `2026-11`,
//! `2026年11月`, `本月`, `上周`, `本学期`, `2026`, `2026-09-01..2026-11-30`; `全县`, a zone or an
//! inspector. Errors are polite Chinese sentences ready to send back.

use chrono::{Datelike, NaiveDate};

use super::{Period, Scope};
use crate::domain::calendar::Calendar;
use crate::domain::monthly::{month_bounds, parse_month};
use crate::domain::text::{normalize, normalize_key};

/// What a period may be written as, for error replies and help.
pub const PERIOD_USAGE: &str =
    "期间可写：本月、上月、本周、上周、本学期、本年、2026-11、2026年11月、2026、2026-09-01..2026-11-30";

/// Separators of a date range, tried in this order.
const RANGE_SEPARATORS: &[&str] = &["..", "至", "到", "~", "～", "—", "–"];

/// One date: `2026-09-01`, `2026/9/1`, `2026.9.1`, `2026年9月1日`.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim().trim_end_matches(['日', '号']).replace(['年', '月', '/', '.'], "-");
    let mut parts = t.split('-');
    let y: i32 = parts.next()?.trim().parse().ok()?;
    let m: u32 = parts.next()?.trim().parse().ok()?;
    let d: u32 = parts.next()?.trim().parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A period written by a user, relative to `today`; `cal` answers `本学期` / `上学期`.
pub fn parse_period(text: &str, today: NaiveDate, cal: Option<&Calendar>) -> Result<Period, String> {
    let t = normalize(text);
    let t = t.trim();
    if t.is_empty() {
        return Err(format!("请写明期间。{PERIOD_USAGE}"));
    }
    let week = Period::week_of(today);
    let named = match t {
        "本周" | "这周" | "这一周" => Some(week),
        "上周" | "上一周" => Some(Period::week_of(super::minus(week.from, 1))),
        "本年" | "今年" | "本年度" => Period::year(today.year()),
        "去年" | "上年" | "上一年" => Period::year(today.year() - 1),
        "本学年" => Some(Period::school_year_of(today)),
        "本学期" | "这学期" => {
            let Some(cal) = cal else {
                return Err("没有学期日历，无法确定“本学期”，请改写具体日期范围。".into());
            };
            return Period::term_of(cal, today)
                .ok_or_else(|| "今天不在学期内（假期中），请写明日期范围，例如 2026-09-01..2027-01-20。".to_string());
        }
        "上学期" => {
            let Some(cal) = cal else {
                return Err("没有学期日历，无法确定“上学期”，请改写具体日期范围。".into());
            };
            // The term before the one containing today (or before today, in holidays).
            let before = cal.term_of(today).map(|t| t.start).unwrap_or(today);
            return cal
                .terms()
                .iter()
                .rev()
                .find(|t| t.end < before)
                .and_then(|t| Period::new(t.start, t.end))
                .ok_or_else(|| "日历中没有上一个学期，请写明日期范围。".to_string());
        }
        _ => None,
    };
    if let Some(p) = named {
        return Ok(p);
    }
    for sep in RANGE_SEPARATORS {
        if let Some((a, b)) = t.split_once(sep) {
            let (Some(from), Some(to)) = (parse_date(a), parse_date(b)) else {
                return Err(format!("日期范围“{t}”看不懂，请写成 2026-09-01..2026-11-30。"));
            };
            return Period::new(from, to).ok_or_else(|| format!("日期范围“{t}”的开始晚于结束。"));
        }
    }
    // A year alone: four digits, optionally followed by 年.
    let year_text = t.strip_suffix("年度").or_else(|| t.strip_suffix('年')).unwrap_or(t);
    if year_text.len() == 4 && year_text.chars().all(|c| c.is_ascii_digit()) {
        let y: i32 = year_text.parse().map_err(|_| format!("看不懂期间“{t}”。{PERIOD_USAGE}"))?;
        return Period::year(y).ok_or_else(|| format!("年份“{t}”不对。"));
    }
    if let Some(d) = parse_date(t) {
        return Ok(Period { from: d, to: d });
    }
    if let Some(p) = parse_month(t, today).and_then(|m| month_bounds(&m)).and_then(|(a, b)| Period::new(a, b)) {
        return Ok(p);
    }
    Err(format!("看不懂期间“{t}”。{PERIOD_USAGE}"))
}

/// How a period reads in titles: "2026年11月", "2026年", or "2026-09-01 至 2026-11-30".
pub fn period_label(p: Period) -> String {
    if Period::month(p.from.year(), p.from.month()) == Some(p) {
        return format!("{}年{}月", p.from.year(), p.from.month());
    }
    if Period::year(p.from.year()) == Some(p) {
        return format!("{}年", p.from.year());
    }
    if p.from == p.to {
        return p.from.format("%Y-%m-%d").to_string();
    }
    format!("{} 至 {}", p.from.format("%Y-%m-%d"), p.to.format("%Y-%m-%d"))
}

/// The same period written for a file name: "2026-11", "2026", "20260901-20261130".
pub fn period_slug(p: Period) -> String {
    if Period::month(p.from.year(), p.from.month()) == Some(p) {
        return p.from.format("%Y-%m").to_string();
    }
    if Period::year(p.from.year()) == Some(p) {
        return p.from.format("%Y").to_string();
    }
    format!("{}-{}", p.from.format("%Y%m%d"), p.to.format("%Y%m%d"))
}

/// A zone or an inspector a scope may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// A scope written by a user: `全县` (or nothing), a zone by name or code, an inspector by name
/// or code. Returns the scope and its display name.
pub fn resolve_scope(text: &str, zones: &[Named], inspectors: &[Named]) -> Result<(Scope, String), String> {
    let key = normalize_key(text);
    if key.is_empty() || matches!(key.as_str(), "全县" | "县" | "全部" | "county") {
        return Ok((Scope::County, "全县".to_string()));
    }
    let find = |list: &[Named]| -> Vec<Named> {
        let exact: Vec<Named> =
            list.iter().filter(|n| normalize_key(&n.name) == key || normalize_key(&n.code) == key).cloned().collect();
        if !exact.is_empty() {
            return exact;
        }
        // "第一责任区" for "第一督学责任区": every character of what was typed, in order.
        list.iter()
            .filter(|n| {
                let name = normalize_key(&n.name);
                let mut chars = name.chars();
                key.chars().count() >= 2 && key.chars().all(|c| chars.any(|x| x == c))
            })
            .cloned()
            .collect()
    };
    let z = find(zones);
    let p = find(inspectors);
    match (z.as_slice(), p.as_slice()) {
        ([one], []) => Ok((Scope::Zone(one.id), one.name.clone())),
        ([], [one]) => Ok((Scope::Inspector(one.id), one.name.clone())),
        ([], []) => Err(format!("没有找到责任区或督学“{}”。范围可写：全县、责任区名称、督学姓名。", text.trim())),
        _ => {
            let names: Vec<String> = z.iter().chain(p.iter()).map(|n| format!("{}（{}）", n.name, n.code)).collect();
            Err(format!("“{}”对应多个：{}。请写全名或编号。", text.trim(), names.join("、")))
        }
    }
}

/// Splits free arguments (`11月 第一督学责任区`, `上月`, `张兰英 2026-11`) into a period and the
/// scope text: the first word that reads as a period is the period; the other words are the
/// scope. `Ok((None, ""))` when nothing was given.
pub fn split_args(args: &str, today: NaiveDate, cal: Option<&Calendar>) -> Result<(Option<Period>, String), String> {
    let mut period = None;
    let mut rest = Vec::new();
    for word in args.split_whitespace() {
        if period.is_none() {
            if let Ok(p) = parse_period(word, today, cal) {
                period = Some(p);
                continue;
            }
        }
        rest.push(word);
    }
    Ok((period, rest.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn p(a: NaiveDate, b: NaiveDate) -> Period {
        Period::new(a, b).unwrap()
    }

    fn cal() -> Calendar {
        Calendar::from_toml_str(
            r#"
year = 2026
[[terms]]
name = "2025-2026学年第二学期"
start = "2026-03-02"
end = "2026-07-10"
[[terms]]
name = "2026-2027学年第一学期"
start = "2026-09-01"
end = "2027-01-22"
"#,
        )
        .unwrap()
    }

    #[test]
    fn periods_as_typed() {
        // Wednesday 2 December 2026.
        let today = d(2026, 12, 2);
        assert_eq!(parse_period("2026-11", today, None), Ok(p(d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("2026年11月", today, None), Ok(p(d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("２０２６－１１", today, None), Ok(p(d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("11月", today, None), Ok(p(d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("本月", today, None), Ok(p(d(2026, 12, 1), d(2026, 12, 31))));
        assert_eq!(parse_period("上月", today, None), Ok(p(d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("本周", today, None), Ok(p(d(2026, 11, 30), d(2026, 12, 6))));
        assert_eq!(parse_period("上周", today, None), Ok(p(d(2026, 11, 23), d(2026, 11, 29))));
        assert_eq!(parse_period("2026", today, None), Ok(p(d(2026, 1, 1), d(2026, 12, 31))));
        assert_eq!(parse_period("2025年", today, None), Ok(p(d(2025, 1, 1), d(2025, 12, 31))));
        assert_eq!(parse_period("本年", today, None), Ok(p(d(2026, 1, 1), d(2026, 12, 31))));
        assert_eq!(parse_period("本学年", today, None), Ok(p(d(2026, 9, 1), d(2027, 8, 31))));
        assert_eq!(parse_period("2026-09-01..2026-11-30", today, None), Ok(p(d(2026, 9, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("2026年9月1日至2026年11月30日", today, None), Ok(p(d(2026, 9, 1), d(2026, 11, 30))));
        assert_eq!(parse_period("2026-11-05", today, None), Ok(p(d(2026, 11, 5), d(2026, 11, 5))));
        // January: 上月 is December of the year before.
        assert_eq!(parse_period("上月", d(2027, 1, 10), None), Ok(p(d(2026, 12, 1), d(2026, 12, 31))));
    }

    #[test]
    fn terms_from_the_calendar() {
        let c = cal();
        assert_eq!(parse_period("本学期", d(2026, 12, 2), Some(&c)), Ok(p(d(2026, 9, 1), d(2027, 1, 22))));
        assert_eq!(parse_period("上学期", d(2026, 12, 2), Some(&c)), Ok(p(d(2026, 3, 2), d(2026, 7, 10))));
        // In the summer holiday there is no current term; the last one is 上学期.
        let e = parse_period("本学期", d(2026, 8, 1), Some(&c)).unwrap_err();
        assert!(e.contains("不在学期内"), "{e}");
        assert_eq!(parse_period("上学期", d(2026, 8, 1), Some(&c)), Ok(p(d(2026, 3, 2), d(2026, 7, 10))));
        assert!(parse_period("本学期", d(2026, 12, 2), None).unwrap_err().contains("学期日历"));
    }

    #[test]
    fn bad_periods_are_polite_errors() {
        let today = d(2026, 12, 2);
        for bad in ["", "下下月", "2026-13", "2026-11-31..2026-12-01", "abc", "20261", "13月"] {
            let e = parse_period(bad, today, None).unwrap_err();
            assert!(!e.is_empty() && !e.contains("Err"), "{bad}: {e}");
        }
        assert!(parse_period("2026-11-30..2026-11-01", today, None).unwrap_err().contains("开始晚于结束"));
        assert!(parse_period("一些话", today, None).unwrap_err().contains("2026-11"));
    }

    #[test]
    fn labels() {
        assert_eq!(period_label(p(d(2026, 11, 1), d(2026, 11, 30))), "2026年11月");
        assert_eq!(period_label(p(d(2026, 1, 1), d(2026, 12, 31))), "2026年");
        assert_eq!(period_label(p(d(2026, 9, 1), d(2026, 11, 30))), "2026-09-01 至 2026-11-30");
        assert_eq!(period_label(p(d(2026, 9, 1), d(2026, 9, 1))), "2026-09-01");
        assert_eq!(period_slug(p(d(2026, 11, 1), d(2026, 11, 30))), "2026-11");
        assert_eq!(period_slug(p(d(2026, 1, 1), d(2026, 12, 31))), "2026");
        assert_eq!(period_slug(p(d(2026, 9, 1), d(2026, 11, 30))), "20260901-20261130");
    }

    fn named(id: i64, code: &str, name: &str) -> Named {
        Named { id, code: code.into(), name: name.into() }
    }

    #[test]
    fn scopes() {
        let zones = vec![named(1, "Z01", "第一督学责任区"), named(2, "Z02", "第二督学责任区")];
        let people = vec![named(10, "D005", "张兰英"), named(11, "D006", "王芳"), named(12, "D007", "王芳")];
        assert_eq!(resolve_scope("", &zones, &people), Ok((Scope::County, "全县".into())));
        assert_eq!(resolve_scope("全县", &zones, &people), Ok((Scope::County, "全县".into())));
        assert_eq!(resolve_scope("第二督学责任区", &zones, &people), Ok((Scope::Zone(2), "第二督学责任区".into())));
        assert_eq!(resolve_scope("z01", &zones, &people), Ok((Scope::Zone(1), "第一督学责任区".into())));
        assert_eq!(resolve_scope("第一责任区", &zones, &people), Ok((Scope::Zone(1), "第一督学责任区".into())));
        assert_eq!(resolve_scope("张 兰英", &zones, &people), Ok((Scope::Inspector(10), "张兰英".into())));
        assert_eq!(resolve_scope("D007", &zones, &people), Ok((Scope::Inspector(12), "王芳".into())));
        let e = resolve_scope("王芳", &zones, &people).unwrap_err();
        assert!(e.contains("对应多个") && e.contains("D006") && e.contains("D007"), "{e}");
        let e = resolve_scope("李四", &zones, &people).unwrap_err();
        assert!(e.contains("没有找到") && e.contains("李四"), "{e}");
        // "责任区" alone is in every zone's name.
        assert!(resolve_scope("责任区", &zones, &people).unwrap_err().contains("对应多个"));
    }

    #[test]
    fn free_arguments() {
        let today = d(2026, 12, 2);
        assert_eq!(split_args("", today, None), Ok((None, String::new())));
        assert_eq!(
            split_args("11月 第一督学责任区", today, None),
            Ok((Some(p(d(2026, 11, 1), d(2026, 11, 30))), "第一督学责任区".into()))
        );
        assert_eq!(
            split_args("张兰英 上周", today, None),
            Ok((Some(p(d(2026, 11, 23), d(2026, 11, 29))), "张兰英".into()))
        );
        assert_eq!(split_args("全县", today, None), Ok((None, "全县".into())));
    }
}
