//! What `统计 <主题>` shows: for each topic, the figures as a short Chinese text and the charts
//! the XLSX export draws for the same topic (reporting rate by zone, visits against the quota,
//! the rectification rate by month, problems by category). Pure: from the rows
//! `export::load_figures` reads to text and [`Chart`]s.

use chrono::{Datelike, NaiveDate};

use super::{Chart, Series, Shape};
use crate::domain::monthly::{category_label, CATEGORIES};
use crate::domain::stats::{self, args, Period, Rate, Scope};
use crate::export::{Data, Kind};

/// The subjects `统计` answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// 周报: the reporting rate.
    Weekly,
    /// 纪实 / 督导: visits against the quota, coverage.
    Visits,
    /// 整改: the rectification rate by month, problems by category.
    Rectify,
    /// 督办: task assignments done, overdue.
    Tasks,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Weekly, Topic::Visits, Topic::Rectify, Topic::Tasks];

    /// The name users type, as help lists it.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Weekly => "周报",
            Topic::Visits => "纪实",
            Topic::Rectify => "整改",
            Topic::Tasks => "督办",
        }
    }

    /// A topic by its name or a common synonym.
    pub fn parse(s: &str) -> Option<Topic> {
        let t = crate::domain::text::normalize_key(s);
        Some(match t.as_str() {
            "周报" | "报送率" | "周交流" | "weekly" => Topic::Weekly,
            "纪实" | "督导" | "督导纪实" | "覆盖" | "定额" | "visits" => Topic::Visits,
            "整改" | "整改率" | "问题" | "rectify" => Topic::Rectify,
            "督办" | "任务" | "督办任务" | "tasks" => Topic::Tasks,
            _ => return None,
        })
    }

    /// The export whose rows the topic's figures come from.
    pub fn kind(self) -> Kind {
        match self {
            Topic::Weekly => Kind::Weekly,
            Topic::Visits => Kind::Coverage,
            Topic::Rectify => Kind::Ledger,
            Topic::Tasks => Kind::Tasks,
        }
    }

    /// The period when none is given: this month, but for 整改 the last six months, so the
    /// rate has a trend to show.
    pub fn default_period(self, today: NaiveDate) -> Period {
        let month = Period::month_of(today);
        match self {
            Topic::Rectify => {
                let from = month.from.checked_sub_months(chrono::Months::new(5)).unwrap_or(month.from);
                Period { from, to: month.to }
            }
            _ => month,
        }
    }
}

/// The topics as users may type them, for help and error replies.
pub fn topics_text() -> String {
    Topic::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join("、")
}

/// One topic's answer: the text (one message) and the charts (one image).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    pub charts: Vec<Chart>,
}

/// The figures of `topic` over `d` (loaded by `export::load_figures` for `topic.kind()`).
pub fn summary(topic: Topic, d: &Data) -> Summary {
    let head = format!("{}统计（{}，{}）", topic.name(), args::period_label(d.period), d.scope_name);
    let (lines, charts) = match topic {
        Topic::Weekly => weekly(d),
        Topic::Visits => visits(d),
        Topic::Rectify => rectify(d),
        Topic::Tasks => tasks(d),
    };
    let mut text = head;
    for l in lines {
        text.push('\n');
        text.push_str(&l);
    }
    Summary { text, charts }
}

/// The zones a chart shows: every active zone for the county, else the scope's own.
fn zones(d: &Data) -> Vec<(i64, String)> {
    let person_zone = |p: i64| d.people.iter().find(|r| r.id == p).and_then(|r| r.zone_id);
    d.zones
        .iter()
        .filter(|z| z.active)
        .filter(|z| match d.scope {
            Scope::County => true,
            Scope::Zone(id) => z.id == id,
            Scope::Inspector(p) => person_zone(p) == Some(z.id),
        })
        .map(|z| (z.id, z.name.clone()))
        .collect()
}

fn value(r: Rate) -> Option<f64> {
    r.value()
}

/// "第一责任区 80.0%、第二责任区 —".
fn listing(items: &[(String, String)]) -> String {
    items.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>().join("、")
}

fn weekly(d: &Data) -> (Vec<String>, Vec<Chart>) {
    use stats::weekly as w;
    let rows = &d.rows.weekly;
    let total = w::figures(rows, d.period, d.scope);
    let per_zone = w::per_zone(rows, d.period, d.scope);
    // One inspector's figures are theirs alone, not their zone's: one bar under their name.
    let by_person = matches!(d.scope, Scope::Inspector(_));
    let zone_figures: Vec<(String, w::WeeklyFigures)> = if by_person {
        vec![(d.scope_name.clone(), total)]
    } else {
        zones(d)
            .iter()
            .map(|(id, name)| (name.clone(), per_zone.get(&Some(*id)).cloned().unwrap_or_default()))
            .collect()
    };
    let mut lines = vec![format!(
        "应报 {} 人次：按期 {}、迟报 {}、未报 {}（请假/免报 {}）；按期报送率 {}，报送率 {}。",
        total.expected,
        total.on_time,
        total.late,
        total.missing,
        total.excluded,
        total.on_time_rate(),
        total.submit_rate()
    )];
    if !zone_figures.is_empty() && !by_person {
        let items: Vec<(String, String)> =
            zone_figures.iter().map(|(n, f)| (n.clone(), f.on_time_rate().percent_text())).collect();
        lines.push(format!("各责任区按期报送率：{}。", listing(&items)));
    }
    let mut charts = Vec::new();
    if !zone_figures.is_empty() {
        charts.push(Chart {
            title: if by_person {
                format!("{}周报报送率", d.scope_name)
            } else {
                "各责任区周报报送率".into()
            },
            shape: Shape::Columns,
            percent: true,
            labels: zone_figures.iter().map(|(n, _)| n.clone()).collect(),
            series: vec![
                Series {
                    name: "按期报送率".into(),
                    values: zone_figures.iter().map(|(_, f)| value(f.on_time_rate())).collect(),
                },
                Series {
                    name: "报送率".into(),
                    values: zone_figures.iter().map(|(_, f)| value(f.submit_rate())).collect(),
                },
            ],
        });
    }
    let trend = w::trend(rows, d.period, d.scope);
    if trend.len() > 1 {
        charts.push(Chart {
            title: "按期报送率趋势（按周）".into(),
            shape: Shape::Line,
            percent: true,
            labels: trend.iter().map(|(l, _)| l.clone()).collect(),
            series: vec![Series {
                name: "按期报送率".into(),
                values: trend.iter().map(|(_, f)| value(f.on_time_rate())).collect(),
            }],
        });
    }
    if total.expected == 0 {
        lines.push("期间内没有应报的周报。".into());
    }
    (lines, charts)
}

fn visits(d: &Data) -> (Vec<String>, Vec<Chart>) {
    use stats::visits as v;
    let r = &d.rows;
    let f = |scope| v::figures(&r.visits, &r.schools, &r.inspectors, d.quota, d.period, scope);
    let total = f(d.scope);
    let mut lines = vec![format!(
        "督导 {} 次，定额 {} 次，定额完成率 {}；学校 {} 所，已覆盖 {} 所，覆盖率 {}；听课 {} 节，主题督导 {} 次。",
        total.visits,
        total.quota,
        total.quota_rate(),
        total.schools_assigned,
        total.schools_covered,
        total.coverage(),
        total.lessons_observed,
        total.themed
    )];
    // Per inspector the scope is the inspector alone: by zone says nothing more.
    let zones = if matches!(d.scope, Scope::Inspector(_)) { Vec::new() } else { zones(d) };
    let per_zone: Vec<(String, v::VisitFigures)> =
        zones.iter().map(|(id, n)| (n.clone(), f(Scope::Zone(*id)))).collect();
    if !per_zone.is_empty() {
        let items: Vec<(String, String)> =
            per_zone.iter().map(|(n, z)| (n.clone(), format!("{}/{}", z.visits, z.quota))).collect();
        lines.push(format!("各责任区督导次数/定额：{}。", listing(&items)));
    }
    let mut charts = Vec::new();
    if !per_zone.is_empty() {
        charts.push(Chart {
            title: "督导次数与定额（按责任区）".into(),
            shape: Shape::Columns,
            percent: false,
            labels: per_zone.iter().map(|(n, _)| n.clone()).collect(),
            series: vec![
                Series {
                    name: "督导次数".into(),
                    values: per_zone.iter().map(|(_, z)| Some(f64::from(z.visits))).collect(),
                },
                Series {
                    name: "定额".into(),
                    values: per_zone.iter().map(|(_, z)| Some(f64::from(z.quota))).collect(),
                },
            ],
        });
    } else if matches!(d.scope, Scope::Inspector(_)) {
        charts.push(Chart {
            title: format!("督导次数与定额（{}）", d.scope_name),
            shape: Shape::Columns,
            percent: false,
            labels: vec![d.scope_name.clone()],
            series: vec![
                Series { name: "督导次数".into(), values: vec![Some(f64::from(total.visits))] },
                Series { name: "定额".into(), values: vec![Some(f64::from(total.quota))] },
            ],
        });
    }
    (lines, charts)
}

fn rectify(d: &Data) -> (Vec<String>, Vec<Chart>) {
    use stats::rectify as rc;
    let r = &d.rows;
    let total = rc::figures(&r.items, &r.escalations, d.period, d.scope, d.today);
    let mut lines = vec![format!(
        "登记问题 {} 个：已销号 {}、在办 {}（逾期 {}）、撤销 {}；整改率 {}；期间销号 {} 次，按期销号率 {}。",
        total.recorded,
        total.closed,
        total.open,
        total.overdue.len(),
        total.cancelled,
        total.rate(),
        total.closures,
        total.on_time_rate()
    )];
    let months: Vec<(Period, rc::RectifyFigures)> = rc::monthly(&r.items, &r.escalations, d.period, d.scope, d.today)
        .into_iter()
        .filter(|(m, _)| m.from <= d.today)
        .collect();
    let month_label = |m: &Period| format!("{}年{}月", m.from.year(), m.from.month());
    if months.len() > 1 {
        let items: Vec<(String, String)> =
            months.iter().map(|(m, f)| (format!("{}月", m.from.month()), f.rate().percent_text())).collect();
        lines.push(format!("整改率按月：{}。", listing(&items)));
    }
    let by_cat = total.by_category();
    let cats: Vec<(String, u32)> =
        by_cat.iter().filter(|(_, n)| **n > 0).map(|(c, n)| (category_label(*c).to_string(), *n)).collect();
    if !cats.is_empty() {
        let items: Vec<(String, String)> = cats.iter().map(|(c, n)| (c.clone(), n.to_string())).collect();
        lines.push(format!("问题类别：{}。", listing(&items)));
    }
    let mut charts = Vec::new();
    if !months.is_empty() {
        charts.push(Chart {
            title: "整改率趋势（按月）".into(),
            shape: if months.len() > 1 { Shape::Line } else { Shape::Columns },
            percent: true,
            labels: months.iter().map(|(m, _)| month_label(m)).collect(),
            series: vec![Series {
                name: "整改率".into(),
                values: months.iter().map(|(_, f)| value(f.rate())).collect(),
            }],
        });
    }
    // Every category listed, for a stable chart (as the export's).
    charts.push(Chart {
        title: "问题按类别分布".into(),
        shape: Shape::Bars,
        percent: false,
        labels: (1..=CATEGORIES.len() as u8).map(|c| category_label(c).to_string()).collect(),
        series: vec![Series {
            name: "问题数".into(),
            values: (1..=CATEGORIES.len() as u8)
                .map(|c| Some(f64::from(by_cat.get(&c).copied().unwrap_or(0))))
                .collect(),
        }],
    });
    (lines, charts)
}

fn tasks(d: &Data) -> (Vec<String>, Vec<Chart>) {
    use stats::tasks as t;
    let rows = &d.rows.assignments;
    let total = t::figures(rows, d.period, d.scope, d.now);
    let mut lines = vec![format!(
        "分派 {} 人次：已确认 {}、待审核 {}、已完成 {}、逾期 {}；完成率 {}。",
        total.assigned,
        total.acknowledged,
        total.submitted,
        total.done,
        total.overdue,
        total.done_rate()
    )];
    let zones = if matches!(d.scope, Scope::Inspector(_)) { Vec::new() } else { zones(d) };
    let per_zone: Vec<(String, t::TaskFigures)> =
        zones.iter().map(|(id, n)| (n.clone(), t::figures(rows, d.period, Scope::Zone(*id), d.now))).collect();
    if !per_zone.is_empty() {
        let items: Vec<(String, String)> =
            per_zone.iter().map(|(n, f)| (n.clone(), format!("{}/{}", f.done, f.assigned))).collect();
        lines.push(format!("各责任区完成/分派：{}。", listing(&items)));
    }
    let (labels, figs): (Vec<String>, Vec<t::TaskFigures>) =
        if per_zone.is_empty() { (vec![d.scope_name.clone()], vec![total]) } else { per_zone.into_iter().unzip() };
    let series = |name: &str, f: fn(&t::TaskFigures) -> u32| Series {
        name: name.into(),
        values: figs.iter().map(|x| Some(f64::from(f(x)))).collect(),
    };
    let charts = vec![Chart {
        title: "督办任务完成情况".into(),
        shape: Shape::Columns,
        percent: false,
        labels,
        series: vec![series("分派", |f| f.assigned), series("已完成", |f| f.done), series("逾期", |f| f.overdue)],
    }];
    (lines, charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_by_name_and_synonym() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.name()), Some(t));
        }
        assert_eq!(Topic::parse("督导"), Some(Topic::Visits));
        assert_eq!(Topic::parse("任务"), Some(Topic::Tasks));
        assert_eq!(Topic::parse("天气"), None);
        let listed = topics_text();
        assert!(Topic::ALL.iter().all(|t| listed.contains(t.name())), "{listed}");
    }

    use crate::domain::stats::records::NameRow;
    use crate::domain::stats::weekly::WeeklyRow;
    use crate::domain::stats::Rows;

    fn name_row(id: i64, name: &str, zone_id: Option<i64>, kind: &str) -> NameRow {
        NameRow { id, code: format!("C{id}"), name: name.into(), zone_id, kind: kind.into(), active: true }
    }

    /// November 2026 (weeks W45–W48): 张兰英 (zone 1) reports every week on time; 王芳 (zone 2)
    /// on time in W45, late in W46, never after; 李明 (zone 2) on leave in W45, then never.
    fn weekly_data(scope: Scope, scope_name: &str) -> Data {
        let nov = Period::month(2026, 11).unwrap();
        let week = |i: usize| crate::domain::weekly::week_label(nov.weeks()[i].from);
        let row = |w: usize, p: i64, z: i64, excluded: bool, submitted: bool, late: bool| WeeklyRow {
            week: week(w),
            person_id: p,
            zone_id: Some(z),
            excluded,
            submitted,
            late,
        };
        let mut weekly = Vec::new();
        for w in 0..4 {
            weekly.push(row(w, 10, 1, false, true, false));
            weekly.push(row(w, 11, 2, false, w < 2, w == 1));
            weekly.push(row(w, 12, 2, w == 0, false, false));
        }
        let now =
            chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+08:00").unwrap().with_timezone(&chrono::Utc);
        Data {
            kind: Kind::Weekly,
            period: nov,
            scope,
            scope_name: scope_name.into(),
            tz: chrono_tz::Asia::Shanghai,
            now,
            as_of: nov.to,
            today: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            quota: 4,
            exempt_invited: false,
            rows: Rows { weekly, ..Rows::default() },
            zones: vec![name_row(1, "第一责任区", None, ""), name_row(2, "第二责任区", None, "")],
            people: vec![
                name_row(10, "张兰英", Some(1), "inspector"),
                name_row(11, "王芳", Some(2), "inspector"),
                name_row(12, "李明", Some(2), "inspector"),
            ],
            schools: Vec::new(),
            visits: Vec::new(),
            items: Vec::new(),
            tasks: Vec::new(),
            months: Vec::new(),
            reconciliation: Vec::new(),
        }
    }

    #[test]
    fn weekly_figures_by_zone_in_text_and_chart() {
        let s = summary(Topic::Weekly, &weekly_data(Scope::County, "全县"));
        // 12 rows, 1 on leave: 11 expected; on time 4 + 1, late 1, missing 2 + 3.
        assert!(s.text.starts_with("周报统计（2026年11月，全县）"), "{}", s.text);
        assert!(s.text.contains("应报 11 人次：按期 5、迟报 1、未报 5（请假/免报 1）"), "{}", s.text);
        // Zone 1: 4/4; zone 2: 1 on time of 7 expected.
        assert!(s.text.contains("第一责任区 100.0%、第二责任区 14.3%"), "{}", s.text);
        assert_eq!(s.charts.len(), 2, "by zone, and the trend over four weeks");
        let zones = &s.charts[0];
        assert_eq!(zones.labels, vec!["第一责任区", "第二责任区"]);
        assert_eq!(zones.series[0].values, vec![Some(1.0), Some(1.0 / 7.0)]);
        assert_eq!(zones.series[1].values, vec![Some(1.0), Some(2.0 / 7.0)]);
        assert_eq!(s.charts[1].labels.len(), 4);
        assert_eq!(s.charts[1].shape, Shape::Line);
    }

    #[test]
    fn one_inspectors_figures_are_not_labelled_as_their_zone() {
        let s = summary(Topic::Weekly, &weekly_data(Scope::Inspector(11), "王芳"));
        assert!(s.text.contains("应报 4 人次：按期 1、迟报 1、未报 2"), "{}", s.text);
        assert!(!s.text.contains("第二责任区"), "{}", s.text);
        assert_eq!(s.charts[0].labels, vec!["王芳"]);
        assert_eq!(s.charts[0].title, "王芳周报报送率");
    }

    #[test]
    fn rectification_defaults_to_six_months() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let p = Topic::Rectify.default_period(today);
        assert_eq!(p.from, NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        assert_eq!(p.to, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!(Topic::Weekly.default_period(today), Period::month_of(today));
    }
}
