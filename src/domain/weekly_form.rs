//! 周交流 H5: a weekly report filled in on the platform's form. The form is written out as the
//! office's template text ([`super::weekly::TEMPLATE`]'s labels), and that text goes through the
//! chat's intake unchanged, so a report from the form is parsed, stored and confirmed exactly as
//! the same words typed in chat. [`WeeklyForm::from_parsed`] fills the form back in from a
//! version's parsed fields.

use super::report_parse::{ParsedReport, Section, VisitMethod};

/// What the form holds: the inspector's own schools by id, the template's sections as fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeeklyForm {
    /// Schools visited this week (the inspector's own), in the order shown.
    pub schools: Vec<i64>,
    /// "本周未下校" ticked.
    pub no_visits: bool,
    /// Visits stated ("共下校3次"); `None` when left empty.
    pub visit_count: Option<u32>,
    /// Methods used, with how many times (at least 1), in [`VisitMethod::ALL`] order.
    pub methods: Vec<(VisitMethod, u32)>,
    /// Problems found, one per line.
    pub problems: String,
    /// "未发现问题" ticked.
    pub no_problems: bool,
    pub followup: String,
    pub next_plan: String,
}

/// The word a method's count is written with, so the parser reads the number back as the count
/// (a head count such as "座谈3人" would count one session).
fn count_word(m: VisitMethod) -> &'static str {
    if m == VisitMethod::LessonObservation {
        "节"
    } else {
        "次"
    }
}

/// A free-text field's lines, trimmed, empty ones dropped.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

impl WeeklyForm {
    /// The report as the template's labelled text; `name` gives a school id's full name.
    pub fn text(&self, name: &dyn Fn(i64) -> String) -> String {
        let mut out = Vec::new();
        if self.no_visits {
            out.push(format!("{}：本周未下校", Section::Schools.label()));
        } else {
            let names: Vec<String> = self.schools.iter().map(|id| name(*id)).collect();
            let mut line = format!("{}：{}", Section::Schools.label(), names.join("、"));
            if let Some(n) = self.visit_count {
                line.push_str(&format!("（共下校{n}次）"));
            }
            out.push(line);
        }
        if !self.methods.is_empty() {
            let list: Vec<String> = self
                .methods
                .iter()
                .map(
                    |(m, n)| if *n > 1 { format!("{}{n}{}", m.label(), count_word(*m)) } else { m.label().to_string() },
                )
                .collect();
            out.push(format!("{}：{}", Section::Methods.label(), list.join("、")));
        }
        // Numbered here, so that each line stays one item whatever markers it came with.
        let problems: Vec<&str> =
            lines(&self.problems).into_iter().map(super::text::strip_list_marker).filter(|p| !p.is_empty()).collect();
        if self.no_problems {
            out.push(format!("{}：无", Section::Problems.label()));
        } else if !problems.is_empty() {
            out.push(format!("{}：", Section::Problems.label()));
            out.extend(problems.iter().enumerate().map(|(i, p)| format!("{}.{p}", i + 1)));
        }
        for (section, text) in [(Section::Followup, &self.followup), (Section::NextPlan, &self.next_plan)] {
            let body = lines(text);
            if !body.is_empty() {
                out.push(format!("{}：{}", section.label(), body.join("；")));
            }
        }
        out.join("\n")
    }

    /// The form filled in from a version's parsed fields (schools only those in `mine`).
    pub fn from_parsed(p: &ParsedReport, mine: &[i64]) -> WeeklyForm {
        WeeklyForm {
            schools: p.schools.iter().copied().filter(|s| mine.contains(s)).collect(),
            no_visits: p.no_visits && p.schools.is_empty(),
            visit_count: p.visit_count,
            methods: p.methods.clone(),
            problems: p.problem_items.join("\n"),
            no_problems: p.no_problems,
            followup: p.sections.get(&Section::Followup).cloned().unwrap_or_default(),
            next_plan: p.sections.get(&Section::NextPlan).cloned().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report_parse::{parse_weekly, SchoolRef};

    fn schools() -> Vec<SchoolRef> {
        [(1, "城关镇第一中心小学", "城关一小"), (2, "青石镇中学", "青石中学"), (3, "梨园乡幼儿园", "梨园幼儿园")]
            .into_iter()
            .map(|(id, name, short)| SchoolRef {
                id,
                name: name.into(),
                short_name: Some(short.into()),
                aliases: Vec::new(),
            })
            .collect()
    }

    fn name(id: i64) -> String {
        schools().into_iter().find(|s| s.id == id).map(|s| s.name).unwrap_or_default()
    }

    fn round_trip(form: &WeeklyForm) -> ParsedReport {
        let text = form.text(&name);
        parse_weekly(&text, &schools())
    }

    #[test]
    fn the_text_parses_back_to_the_form() {
        let form = WeeklyForm {
            schools: vec![2, 1],
            visit_count: Some(3),
            methods: vec![
                (VisitMethod::LessonObservation, 4),
                (VisitMethod::DocumentReview, 1),
                (VisitMethod::Meeting, 2),
                (VisitMethod::Discussion, 2),
                (VisitMethod::Questionnaire, 1),
                (VisitMethod::CampusWalk, 3),
            ],
            problems: "1.食堂晨检记录缺两天\n  \n午休室窗户护栏松动".into(),
            followup: "上周通报的厕所漏水已修复".into(),
            next_plan: "复查青石镇中学护栏\n参加教研活动".into(),
            ..WeeklyForm::default()
        };
        let p = round_trip(&form);
        assert_eq!(p.schools, vec![2, 1]);
        assert_eq!(p.visit_count, Some(3));
        assert_eq!(p.methods, form.methods);
        assert_eq!(p.problem_items, vec!["食堂晨检记录缺两天".to_string(), "午休室窗户护栏松动".to_string()]);
        assert!(!p.no_problems && !p.no_visits);
        assert_eq!(p.sections.get(&Section::Followup).map(String::as_str), Some("上周通报的厕所漏水已修复"));
        assert_eq!(p.sections.get(&Section::NextPlan).map(String::as_str), Some("复查青石镇中学护栏；参加教研活动"));
        assert!(p.ambiguous.is_empty() && p.unknown_schools.is_empty(), "{p:?}");
        assert_eq!(crate::domain::report_parse::missing_required(&p), None);
        assert_eq!(WeeklyForm::from_parsed(&p, &[1, 2, 3]).text(&name), form.text(&name));
    }

    #[test]
    fn no_visits_and_no_problems_are_said_in_words() {
        let form = WeeklyForm { no_visits: true, next_plan: "下校两所".into(), ..WeeklyForm::default() };
        let p = round_trip(&form);
        assert!(p.no_visits && p.schools.is_empty(), "{p:?}");
        assert_eq!(crate::domain::report_parse::missing_required(&p), None);
        let form = WeeklyForm { schools: vec![3], no_problems: true, ..WeeklyForm::default() };
        let p = round_trip(&form);
        assert_eq!(p.schools, vec![3]);
        assert!(p.no_problems && p.problem_items.is_empty(), "{p:?}");
        let back = WeeklyForm::from_parsed(&p, &[3]);
        assert!(back.no_problems && back.schools == vec![3]);
    }

    #[test]
    fn an_empty_form_misses_the_schools() {
        let p = round_trip(&WeeklyForm::default());
        assert_eq!(crate::domain::report_parse::missing_required(&p), Some(Section::Schools));
        // Schools without a word on problems: the chat would ask for them, the form says so.
        let p = round_trip(&WeeklyForm { schools: vec![1], problems: " 1. \n".into(), ..WeeklyForm::default() });
        assert_eq!(crate::domain::report_parse::missing_required(&p), Some(Section::Problems));
    }
}
