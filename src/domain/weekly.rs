//! Weekly reports (周交流): rounds, deadlines, who is due a reminder, and the wrap-up figures.
//! Pure: the workflow in `app::weekly` feeds it rows and posts what it returns.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::calendar::{Calendar, DayKind};

/// "2026-W48": the ISO week of a local date.
pub fn week_label(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// Parses "第48周" / "48" / "2026-W48" relative to `today`'s ISO year.
pub fn parse_week(s: &str, today: NaiveDate) -> Option<String> {
    let s = crate::domain::text::normalize(s);
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some((y, w)) = s.split_once("-W") {
        let (y, w): (i32, u32) = (y.parse().ok()?, w.parse().ok()?);
        // chrono's ISO-week arithmetic steps into the neighbouring year and overflows at the
        // ends of i32 ("-2147483648-W1" panicked); no report round is outside this range.
        if !(2000..=2200).contains(&y) {
            return None;
        }
        return NaiveDate::from_isoywd_opt(y, w, Weekday::Mon).map(week_label);
    }
    let digits = s.trim_start_matches('第').trim_end_matches('周');
    let w: u32 = digits.parse().ok().or_else(|| crate::domain::text::parse_chinese_number(digits))?;
    NaiveDate::from_isoywd_opt(today.iso_week().year(), w, Weekday::Mon).map(week_label)
}

/// "Mon 12:00" → the weekday and time of the deadline.
pub fn parse_deadline_spec(s: &str) -> Option<(Weekday, NaiveTime)> {
    let (day, time) = s.trim().split_once(' ')?;
    let day: Weekday = day.parse().ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
    Some((day, time))
}

/// The first `weekday time` strictly after `opened` in local time.
pub fn deadline_after(opened: DateTime<Utc>, tz: Tz, weekday: Weekday, time: NaiveTime) -> DateTime<Utc> {
    let local = opened.with_timezone(&tz);
    let mut d = local.date_naive();
    for _ in 0..8 {
        if d.weekday() == weekday {
            if let Some(t) = tz.from_local_datetime(&d.and_time(time)).earliest() {
                if t > local {
                    return t.with_timezone(&Utc);
                }
            }
        }
        d += Duration::days(1);
    }
    opened + Duration::days(3)
}

/// A weekly deadline that lands on a statutory holiday moves to the same time on the next working
/// day (offices do not collect reports during 国庆). Ordinary weekends are left as configured.
pub fn deadline_off_holidays(deadline: DateTime<Utc>, tz: Tz, cal: &Calendar) -> DateTime<Utc> {
    shift_off_holiday(deadline, tz, cal).unwrap_or(deadline)
}

/// `t` moved to the same local time on the next working day when its date is a holiday; `None`
/// when it is not on a holiday, or when no such time exists (bad calendar data, a DST gap).
fn shift_off_holiday(t: DateTime<Utc>, tz: Tz, cal: &Calendar) -> Option<DateTime<Utc>> {
    let local = t.with_timezone(&tz);
    let day = local.date_naive();
    if !is_holiday(cal, day) {
        return None;
    }
    let to = cal.next_working_day(day)?;
    tz.from_local_datetime(&to.and_time(local.time())).earliest().map(|x| x.with_timezone(&Utc))
}

fn is_holiday(cal: &Calendar, d: NaiveDate) -> bool {
    matches!(cal.day_kind(d), DayKind::Holiday { .. })
}

/// Like [`reminder_due`], but nothing is sent on a statutory holiday: a reminder falling on one
/// goes out at the same time on the next working day, or not at all if that is past the
/// deadline (a later reminder covers it).
pub fn reminder_due_on(cal: &Calendar, tz: Tz, now: DateTime<Utc>, deadline: DateTime<Utc>, hours_before: u32) -> bool {
    if is_holiday(cal, now.with_timezone(&tz).date_naive()) {
        return false;
    }
    let nominal = deadline - Duration::hours(i64::from(hours_before));
    let at = match shift_off_holiday(nominal, tz, cal) {
        Some(moved) if moved >= deadline => return false,
        Some(moved) => moved,
        None => nominal,
    };
    now >= at && now < deadline
}

/// Reminder `i` (0-based, in the configured order) is due when its offset before the deadline
/// has been reached and the deadline has not passed.
pub fn reminder_due(now: DateTime<Utc>, deadline: DateTime<Utc>, hours_before: u32) -> bool {
    now >= deadline - Duration::hours(i64::from(hours_before)) && now < deadline
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    pub person_id: i64,
    pub name: String,
    /// `Some("leave")` or `Some("exempt")`: not expected to report.
    pub excluded: Option<String>,
    pub submitted: bool,
    pub late: bool,
    pub visits: u32,
    pub schools: Vec<i64>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeekStats {
    pub expected: usize,
    pub submitted: usize,
    pub on_time: usize,
    pub late: Vec<String>,
    pub missing: Vec<String>,
    pub excluded: Vec<String>,
    pub visits: u32,
    pub schools_covered: usize,
    pub problems: Vec<(String, String)>,
}

pub fn stats(members: &[MemberStatus]) -> WeekStats {
    let mut s = WeekStats::default();
    let mut schools = std::collections::BTreeSet::new();
    for m in members {
        if m.excluded.is_some() {
            s.excluded.push(m.name.clone());
            continue;
        }
        s.expected += 1;
        if !m.submitted {
            s.missing.push(m.name.clone());
            continue;
        }
        s.submitted += 1;
        if m.late {
            s.late.push(m.name.clone());
        } else {
            s.on_time += 1;
        }
        s.visits += m.visits;
        schools.extend(m.schools.iter().copied());
        s.problems.extend(m.problems.iter().map(|p| (m.name.clone(), p.clone())));
    }
    s.schools_covered = schools.len();
    s
}

/// The wrap-up text posted to the supervisors.
pub fn wrap_up_text(week: &str, s: &WeekStats) -> String {
    let mut lines = vec![format!("【周报汇总】{}", week_title(week))];
    lines.push(format!(
        "应报 {} 人，已报 {} 人（按时 {}，逾期 {}），未报 {} 人",
        s.expected,
        s.submitted,
        s.on_time,
        s.late.len(),
        s.missing.len()
    ));
    if !s.missing.is_empty() {
        lines.push(format!("未报：{}", s.missing.join("、")));
    }
    if !s.late.is_empty() {
        lines.push(format!("逾期：{}", s.late.join("、")));
    }
    if !s.excluded.is_empty() {
        lines.push(format!("请假/免报：{}", s.excluded.join("、")));
    }
    lines.push(format!("督导次数 {}，覆盖学校 {} 所，发现问题 {} 条", s.visits, s.schools_covered, s.problems.len()));
    for (who, p) in s.problems.iter().take(10) {
        lines.push(format!("· {who}：{p}"));
    }
    if s.problems.len() > 10 {
        lines.push(format!("……另有 {} 条，见周报统计", s.problems.len() - 10));
    }
    lines.join("\n")
}

/// How a weekly-report message is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Before the deadline: a report, a further part or an edit of it.
    OnTime,
    /// After the deadline from someone without an on-time report: the report is late.
    Late,
    /// After the deadline from someone who reported on time: a late addendum kept beside the
    /// on-time version, whose content and status the wrap-up already published.
    Addendum,
}

/// Decides how a message is taken. `on_file_late` is the late flag of the report already on
/// file, if any.
pub fn intake_kind(now: DateTime<Utc>, deadline: DateTime<Utc>, on_file_late: Option<bool>) -> Intake {
    if now <= deadline {
        Intake::OnTime
    } else if on_file_late == Some(false) {
        Intake::Addendum
    } else {
        Intake::Late
    }
}

/// A late addendum as shown to people: who, when (local, "11月30日 15:20") and what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addendum {
    pub name: String,
    pub at: String,
    pub text: String,
}

/// The longest addendum text shown in a chat line, in chars.
const ADDENDUM_CHARS: usize = 100;

/// One addendum's text on one line, marked as received after the deadline.
pub fn addendum_line(at: &str, text: &str) -> String {
    let flat: Vec<&str> = text.split_whitespace().collect();
    format!("{}（截止后补充，时间{at}）", crate::domain::text::truncate_chars(&flat.join(" "), ADDENDUM_CHARS))
}

/// The addenda section under the statistics, or `None` without addenda. The figures above it
/// are those of the on-time versions: addenda never change them.
pub fn addenda_text(addenda: &[Addendum]) -> Option<String> {
    if addenda.is_empty() {
        return None;
    }
    let mut lines = vec![format!("截止后补充 {} 条（不计入以上统计）：", addenda.len())];
    for a in addenda.iter().take(10) {
        lines.push(format!("· {}：{}", a.name, addendum_line(&a.at, &a.text)));
    }
    if addenda.len() > 10 {
        lines.push(format!("……另有 {} 条", addenda.len() - 10));
    }
    Some(lines.join("\n"))
}

/// How far into a message a command name and its separators can reach, in chars.
const COMMAND_HEAD_CHARS: usize = 64;

/// The part of the message `original` that the command parser read as `args` (from a
/// normalised copy), as the sender wrote it: full-width colons and digits, emoji and all.
///
/// Offsets in the normalised copy do not carry over (normalising changes byte lengths), so
/// this looks for the char boundary near the start of `original` whose tail normalises to
/// `args`, and cuts the original there. `None` when there is none.
pub fn verbatim_tail<'a>(original: &'a str, args: &str) -> Option<&'a str> {
    let args = args.trim();
    original
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(original.len()))
        .take(COMMAND_HEAD_CHARS + 1)
        .find(|&i| crate::domain::text::normalize(&original[i..]).trim() == args)
        .map(|i| original[i..].trim())
}

/// "2026-W48" → "2026年第48周".
pub fn week_title(week: &str) -> String {
    match week.split_once("-W") {
        Some((y, w)) => format!("{y}年第{}周", w.trim_start_matches('0')),
        None => week.to_string(),
    }
}

pub const TEMPLATE: &str = "本周督导学校：\n督导方式：\n发现问题：\n整改跟进：\n下周计划：";

#[cfg(test)]
mod tests {
    use super::*;

    fn national_day_2026() -> Calendar {
        Calendar::from_toml_str(
            "year = 2026\n[[holidays]]\nname = \"国庆节\"\nstart = \"2026-10-01\"\nend = \"2026-10-07\"\n\
             makeup_workdays = [\"2026-09-20\", \"2026-10-10\"]\n",
        )
        .expect("parses")
    }

    fn sh(m: u32, d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn deadlines_and_reminders_keep_off_holidays() {
        let cal = national_day_2026();
        let tz = chrono_tz::Asia::Shanghai;
        // Thursday 1 October 12:00 → Thursday 8 October 12:00; a working day is left alone, and
        // so is an ordinary Sunday (weekends follow the configuration).
        assert_eq!(deadline_off_holidays(sh(10, 1, 12), tz, &cal), sh(10, 8, 12));
        assert_eq!(deadline_off_holidays(sh(9, 30, 12), tz, &cal), sh(9, 30, 12));
        assert_eq!(deadline_off_holidays(sh(11, 29, 12), tz, &cal), sh(11, 29, 12));
        // A reminder due on a holiday waits for the same time on the next working day...
        let dl = sh(10, 8, 12);
        assert!(!reminder_due_on(&cal, tz, sh(10, 2, 10), dl, 146));
        assert!(!reminder_due_on(&cal, tz, sh(10, 8, 9), dl, 146));
        assert!(reminder_due_on(&cal, tz, sh(10, 8, 10), dl, 146));
        // ... or is dropped when that is past the deadline (a later reminder covers it).
        assert!(!reminder_due_on(&cal, tz, sh(10, 8, 11), dl, 20));
        assert!(reminder_due_on(&cal, tz, sh(10, 8, 9), dl, 3));
        // Nothing is sent on a holiday even if due before it (after downtime).
        assert!(!reminder_due_on(&cal, tz, sh(10, 1, 9), sh(10, 9, 12), 200));
        // Ordinary days behave as reminder_due.
        let dl = sh(11, 30, 12);
        assert!(reminder_due_on(&cal, tz, sh(11, 29, 16), dl, 20));
        assert!(!reminder_due_on(&cal, tz, sh(11, 29, 15), dl, 20));
    }

    #[test]
    fn weeks() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(week_label(d), "2026-W48");
        assert_eq!(parse_week("第48周", d).as_deref(), Some("2026-W48"));
        assert_eq!(parse_week("四十八", d).as_deref(), Some("2026-W48"));
        assert_eq!(parse_week("2026-W03", d).as_deref(), Some("2026-W03"));
        assert_eq!(parse_week("第99周", d), None);
        assert_eq!(week_title("2026-W08"), "2026年第8周");
    }

    #[test]
    fn deadlines() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let (day, time) = parse_deadline_spec("Mon 12:00").unwrap();
        let opened = tz.with_ymd_and_hms(2026, 11, 27, 16, 0, 0).unwrap().with_timezone(&Utc);
        let dl = deadline_after(opened, tz, day, time);
        assert_eq!(dl, tz.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap().with_timezone(&Utc));
        assert!(reminder_due(dl - Duration::hours(3), dl, 20));
        assert!(!reminder_due(dl - Duration::hours(21), dl, 20));
        assert!(!reminder_due(dl, dl, 20));
        assert!(parse_deadline_spec("Monday noon").is_none());
    }

    #[test]
    fn after_the_deadline_an_on_time_report_takes_addenda() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let dl = tz.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap().with_timezone(&Utc);
        let after = dl + Duration::minutes(1);
        assert_eq!(intake_kind(dl, dl, Some(false)), Intake::OnTime);
        assert_eq!(intake_kind(dl - Duration::hours(1), dl, None), Intake::OnTime);
        assert_eq!(intake_kind(after, dl, None), Intake::Late);
        assert_eq!(intake_kind(after, dl, Some(true)), Intake::Late);
        assert_eq!(intake_kind(after, dl, Some(false)), Intake::Addendum);
        assert_eq!(addenda_text(&[]), None);
        let a = Addendum {
            name: "督学甲".into(), at: "11月30日 15:20".into(), text: "发现问题：\n1．操场积水".into()
        };
        let t = addenda_text(&[a]).unwrap();
        assert!(t.contains("截止后补充 1 条（不计入以上统计）"), "{t}");
        assert!(t.contains("· 督学甲：发现问题： 1．操场积水（截止后补充，时间11月30日 15:20）"), "{t}");
        let long = "很".repeat(300);
        assert!(addendum_line("11月30日 15:20", &long).chars().count() < 130);
    }

    #[test]
    fn command_arguments_verbatim() {
        let raw = "周报：本周督导学校：甲中学\n发现问题：１．围墙破损🙂";
        let args = "本周督导学校:甲中学\n发现问题:1.围墙破损🙂";
        assert_eq!(verbatim_tail(raw, args), Some("本周督导学校：甲中学\n发现问题：１．围墙破损🙂"));
        assert_eq!(verbatim_tail("／ｒｅｐｏｒｔ　修改：无😊　", "修改:无😊"), Some("修改：无😊"));
        assert_eq!(verbatim_tail("周报", ""), Some(""));
        assert_eq!(verbatim_tail("周报：甲", "乙"), None);
        // Multi-byte chars whose normal form is shorter never split a char.
        assert_eq!(verbatim_tail("\u{212A}周报　\u{FEFF}ｋ", "k"), Some("\u{FEFF}ｋ"));
    }

    #[test]
    fn stats_count_each_kind_once() {
        let m = |id, excluded: Option<&str>, submitted, late, schools: Vec<i64>| MemberStatus {
            person_id: id,
            name: format!("督学{id}"),
            excluded: excluded.map(String::from),
            submitted,
            late,
            visits: schools.len() as u32,
            schools,
            problems: if submitted { vec!["问题".into()] } else { vec![] },
        };
        let s = stats(&[
            m(1, None, true, false, vec![1, 2]),
            m(2, None, true, true, vec![2, 3]),
            m(3, None, false, false, vec![]),
            m(4, Some("leave"), false, false, vec![]),
        ]);
        assert_eq!((s.expected, s.submitted, s.on_time), (3, 2, 1));
        assert_eq!(s.late, vec!["督学2"]);
        assert_eq!(s.missing, vec!["督学3"]);
        assert_eq!(s.excluded, vec!["督学4"]);
        assert_eq!((s.visits, s.schools_covered, s.problems.len()), (4, 3, 2));
        let text = wrap_up_text("2026-W48", &s);
        assert!(text.contains("应报 3 人，已报 2 人（按时 1，逾期 1），未报 1 人"));
    }
}

#[cfg(test)]
mod hostile_weeks {
    use super::*;

    /// Years at the ends of `i32` must give "no such week", not an arithmetic overflow.
    #[test]
    fn extreme_years_are_no_week() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        for s in ["-2147483648-W1", "2147483647-W53", "2147483647-W1", "-2147483648-W53", "0-W1", "99999999-W10"] {
            assert_eq!(parse_week(s, d), None, "{s}");
        }
        assert_eq!(parse_week("第\u{212A}周", d), None);
        assert_eq!(parse_week("\u{FFFD}-W\u{0301}", d), None);
    }
}
