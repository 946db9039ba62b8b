//! Property tests over every parser reachable from chat: arbitrary Unicode (case-folding,
//! combining marks, RTL marks, NUL, emoji), the commands' own vocabulary, Chinese report words
//! and CQ-code fragments. Every parser must answer without panicking, and what it hands back
//! must come from the text it was given.
//!
//! `cargo test --test proptest_parsers` runs a short budget (proptest's default of 256 cases
//! per property). The long budget is the same file with more cases, e.g.
//! `PROPTEST_CASES=100000 cargo test --release --test proptest_parsers` (see README.md).

use chrono::{NaiveDate, NaiveTime};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use serde_json::{json, Value};

use dudao::chat::console::{parse_line, ConsoleChannel};
use dudao::chat::onebot::wire;
use dudao::chat::split::split_message;
use dudao::chat::telegram::{map_message, BotIdentity};
use dudao::chat::wecom::callback::{decode_app_message, parse_flat_xml, Decoded};
use dudao::chat::wecom::crypto::MsgCrypt;
use dudao::chat::Segment;
use dudao::domain::command::{self, CATALOG};
use dudao::domain::report_parse::{self, SchoolRef, Section};
use dudao::domain::school_match::{find_schools, SchoolMatcher};
use dudao::domain::text::normalize;
use dudao::domain::{dates, monthly, rectify, task, visit_parse, weekly};

/// The run's configuration: proptest's defaults and environment (`PROPTEST_CASES`, …), with a
/// fixed seed unless `PROPTEST_RNG_SEED` names one, so `cargo test` explores the same inputs on
/// every machine and a CI run cannot fail on a draw nobody can reproduce. Long runs pick their
/// own seed (README.md).
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x6475_6461_6f21);
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Characters whose case mapping changes byte length, combining marks, direction marks, NUL,
/// the replacement character, emoji (with ZWJ and variation selectors), odd spaces.
const SPECIAL: &[&str] = &[
    "\u{212A}",
    "\u{0130}",
    "\u{1E9E}",
    "ß",
    "ǅ",
    "ς",
    "Σ",
    "ΐ",
    "ﬁ",
    "\u{0301}",
    "\u{0308}",
    "\u{20DD}",
    "e\u{0301}",
    "\u{202E}",
    "\u{202D}",
    "\u{200F}",
    "\u{200E}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{2028}",
    "\0",
    "\u{FFFD}",
    "\u{7F}",
    "😀",
    "👉",
    "✅\u{FE0F}",
    "👨\u{200D}👩\u{200D}👧",
    "🇨🇳",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\u{3000}",
    "\u{00A0}",
    "ＡＢＣ",
    "１２",
];

/// Chinese report and command words, list markers and label punctuation.
const WORDS: &[&str] = &[
    "本周",
    "督导",
    "学校",
    "问题",
    "下周",
    "一",
    "二",
    "三",
    "十",
    "两",
    "１．",
    "1.",
    "2、",
    "3)",
    "（一）",
    "(2)",
    "①",
    "⑵",
    "- ",
    "• ",
    "：",
    ":",
    "，",
    ",",
    "。",
    "；",
    "、",
    " ",
    "\n",
    "【发现问题】",
    "[问题]",
    "发现问题：",
    "本周督导学校：",
    "督导方式：",
    "整改跟进：",
    "下周计划：",
    "推门听课",
    "听课2节",
    "听了3节课",
    "查阅资料",
    "座谈",
    "走访家长5户",
    "校园巡视",
    "共3所",
    "督导2次",
    "实验小学",
    "青石镇中心小学",
    "青石中心校",
    "白沙小学",
    "中心校",
    "小学",
    "中学",
    "幼儿园",
    "示例县",
    "今天",
    "昨天",
    "11月20日",
    "十一月二十日",
    "2026-11-20",
    "2026年11月",
    "11.20",
    "11/20",
    "周三",
    "上周五",
    "下周五前",
    "截止:",
    "截止",
    "对象:",
    "标题:",
    "说明:",
    "17:00",
    "T12",
    "W3",
    "Z2",
    "#",
    "/",
    "达标",
    "基本达标",
    "不达标",
    "学校:",
    "日期:",
    "方式:",
    "亮点:",
    "期限:",
    "部门:",
    "类别",
    "严重",
    "无",
    "未发现问题",
    "本周未下校",
    "@",
    "＠",
    "全体督学",
    "第一督学责任区",
    "至",
    "到",
    "~",
    "-",
    "需提交材料",
    "-W",
    "2026-W48",
    "2147483647",
    "-2147483648",
    "99999999999999999999",
    "+262142-12-31",
    "262142-12-31",
    "-262143-01-01",
    "0",
    "[CQ:at,qq=",
    "[CQ:at,qq=10001]",
    "[CQ:reply,id=7]",
    "[CQ:image,file=a.jpg]",
    "[CQ:",
    "]",
    "[",
    "&#91;",
    "&#93;",
    "&#44;",
    "&amp;",
    "&",
];

/// Every command name and English alias in the catalogue.
fn command_words() -> Vec<String> {
    CATALOG.iter().flat_map(|s| s.names.iter().chain(s.english.iter())).map(|s| s.to_string()).collect()
}

fn arbitrary_chars(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// A command name with letters swapped for characters that case-map onto ASCII or change
/// length when case-mapped: U+212A KELVIN SIGN lowercases to "k", U+0130 to "i̇", 'ſ'
/// uppercases to "S", U+212B ANGSTROM SIGN lowercases to "å"; the rest in random ASCII case.
fn lookalike_word() -> impl Strategy<Value = String> {
    let english: Vec<String> = CATALOG.iter().flat_map(|s| s.english.iter()).map(|s| s.to_string()).collect();
    (select(english), vec(0u8..6, 24)).prop_map(|(w, picks)| {
        w.chars()
            .zip(picks.into_iter().cycle())
            .map(|(c, p)| match (c, p) {
                ('k' | 'K', 0..=2) => '\u{212A}',
                ('i' | 'I', 0) => '\u{0130}',
                ('s' | 'S', 0) => 'ſ',
                ('a' | 'A', 0) => '\u{212B}',
                (c, 2 | 3) => c.to_ascii_uppercase(),
                (c, _) => c,
            })
            .collect()
    })
}

/// One piece of a message: arbitrary characters, a special character, a Chinese word or a
/// command name (plain, upper case, or with look-alike letters).
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => arbitrary_chars(6),
        3 => select(SPECIAL).prop_map(String::from),
        5 => select(WORDS).prop_map(String::from),
        2 => select(command_words()),
        1 => select(command_words()).prop_map(|w| w.to_uppercase()),
        1 => lookalike_word(),
    ]
}

/// A chat message made of up to `max` pieces.
fn text_of(max: usize) -> impl Strategy<Value = String> {
    vec(piece(), 0..max).prop_map(|v| v.concat())
}

fn text() -> impl Strategy<Value = String> {
    text_of(24)
}

/// A message as people start commands: often a command name (maybe with look-alike letters)
/// first, then anything.
fn message() -> impl Strategy<Value = String> {
    let head = prop_oneof![select(command_words()), lookalike_word(), Just(String::new())];
    let lead = select(&["", "", "/", "#", " ", "＃"][..]);
    let sep = select(&["", " ", " ", ":", "：", "，", "\n", " T12 ", "W3"][..]);
    prop_oneof![text(), (lead, head, sep, text()).prop_map(|(l, h, s, t)| format!("{l}{h}{s}{t}")),]
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
}

fn schools() -> Vec<SchoolRef> {
    let s = |id: i64, name: &str, short: Option<&str>, aliases: &[&str]| SchoolRef {
        id,
        name: name.to_string(),
        short_name: short.map(str::to_string),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    };
    vec![
        s(1, "示例县实验小学", Some("实小"), &["县实小"]),
        s(2, "示例县青石镇中心小学", Some("青石中小"), &[]),
        s(3, "示例县白沙镇中心小学", None, &[]),
        s(4, "示例县第一中学", Some("一中"), &[]),
        s(5, "示例县青石镇石桥村小学", None, &[]),
        s(6, "示例县城关幼儿园", None, &["城关幼"]),
    ]
}

/// Whether every character of `out` occurs in `input` — with the punctuation the parsers
/// write back (`：` for a folded `:`, `，` joining clauses, a space or a line break joining
/// parts, `…` ending a shortened text).
fn made_of(out: &str, input: &str) -> bool {
    let norm = normalize(input);
    out.chars().all(|c| {
        norm.contains(c)
            || input.contains(c)
            || (c == '：' && norm.contains(':'))
            // '，' also joins the clauses a parser keeps after moving others elsewhere.
            || matches!(c, ' ' | '\n' | '…' | '，')
    })
}

// ---------------------------------------------------------------------------------------------
// Commands

proptest! {
    #![proptest_config(config())]

    /// Any text: no panic; the args are a piece of the normalised text, and the text starts
    /// with one of the recognised command's names (ASCII case-insensitively for aliases).
    #[test]
    fn command_parse_is_total_and_args_come_from_the_text(s in message()) {
        let norm = normalize(&s);
        if let Some(c) = command::parse(&s) {
            prop_assert!(norm.contains(c.args.as_str()), "args {:?} not in {:?}", c.args, norm);
            let spec = command::CommandSpec::get(c.id);
            let head = norm.trim().trim_start_matches(['/', '#', '＃']).trim_start();
            let named = spec.names.iter().any(|n| head.starts_with(n))
                || spec.english.iter().any(|n| head.get(..n.len()).is_some_and(|h| h.eq_ignore_ascii_case(n)));
            prop_assert!(named, "{:?} recognised in {:?}", c.id, head);
        }
    }

    /// A command name (any ASCII case for aliases), a separator and arbitrary text: the command
    /// is recognised and the args are exactly that text, normalised and trimmed.
    #[test]
    fn command_names_with_any_args(
        spec_i in 0..CATALOG.len(),
        name_i in 0usize..8,
        upper in any::<bool>(),
        slash in any::<bool>(),
        sep in select(&[" ", ":", "：", "，", "\u{3000}"][..]),
        first in select(&["实", "T", "W", "１", "😀", "\u{212A}", "\u{0130}", "\u{202E}", "\u{FFFD}", "ẞ"][..]),
        tail in text(),
    ) {
        let spec = &CATALOG[spec_i];
        let all: Vec<&str> = spec.names.iter().chain(spec.english.iter()).copied().collect();
        let name = all[name_i % all.len()];
        let name = if upper && name.is_ascii() { name.to_ascii_uppercase() } else { name.to_string() };
        let input = format!("{}{name}{sep}{first}{tail}", if slash { "/" } else { "" });
        let c = command::parse(&input);
        prop_assert!(c.is_some(), "{:?} not recognised", input);
        let c = c.unwrap();
        prop_assert_eq!(c.id, spec.id, "{:?}", input);
        let expected = normalize(&format!("{first}{tail}")).trim().to_string();
        prop_assert_eq!(c.args, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Weekly reports

proptest! {
    #![proptest_config(config())]

    /// Any text, as one message, several messages or an answer to each question: no panic;
    /// schools are the inspector's; fragments, unknown names and problem items come from the text.
    #[test]
    fn weekly_report_parse_is_total(s in text_of(32), cut in 0usize..64) {
        let list = schools();
        let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
        let norm = normalize(&s);
        let r = report_parse::parse_weekly(&s, &list);
        prop_assert!(r.schools.iter().all(|id| ids.contains(id)));
        for m in &r.ambiguous {
            prop_assert!(norm.contains(m.fragment.as_str()), "fragment {:?}", m.fragment);
            prop_assert!(m.candidates.iter().all(|id| ids.contains(id)));
        }
        for u in &r.unknown_schools {
            prop_assert!(norm.contains(u.as_str()), "unknown {:?}", u);
        }
        for p in &r.problem_items {
            prop_assert!(!p.is_empty());
            prop_assert!(made_of(p, &s), "problem {:?} not from {:?}", p, s);
        }
        for body in r.sections.values() {
            prop_assert!(made_of(body, &s), "section {:?} not from {:?}", body, s);
        }
        prop_assert!(!r.no_problems || r.problem_items.is_empty());
        // Split into two messages at a char boundary.
        let at = s.char_indices().nth(cut).map_or(s.len(), |(i, _)| i);
        let (a, b) = s.split_at(at);
        let merged = report_parse::parse_weekly_messages(&[a, b], &list);
        prop_assert!(merged.schools.iter().all(|id| ids.contains(id)));
        let m = report_parse::merge(&report_parse::parse_weekly(a, &list), &report_parse::parse_weekly(b, &list));
        prop_assert!(m.schools.iter().all(|id| ids.contains(id)));
        for section in Section::ALL {
            let r = report_parse::parse_answer(section, &s, &list);
            prop_assert!(r.schools.iter().all(|id| ids.contains(id)));
        }
        report_parse::find_methods(&norm);
        report_parse::find_visit_count(&norm);
    }
}

/// Problem text made of characters no label, marker or keyword uses, mixed with the hostile
/// characters that must pass through untouched.
fn problem_text() -> impl Strategy<Value = String> {
    let safe = select(
        "食堂留样记录消防通道堵塞作业量偏大宿舍器材过期实验教师课堂安全隐患台账缺失卫生间灯光"
            .chars()
            .collect::<Vec<_>>(),
    );
    let odd = select(vec![
        '\u{212A}', '\u{0130}', '\u{1E9E}', 'ß', 'ǅ', 'ς', '\u{0301}', '\u{202E}', '\u{200F}', '\u{FFFD}', 'K', 'k',
    ]);
    (safe.clone(), vec(prop_oneof![4 => safe, 1 => odd], 1..16))
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

proptest! {
    #![proptest_config(config())]

    /// A report written to the template comes back as written: the schools, and every problem
    /// item verbatim and in order.
    #[test]
    fn weekly_report_round_trip(
        school_is in vec(0usize..6, 1..4),
        lessons in 1u32..9,
        problems in vec(problem_text(), 1..5),
        full_width in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let list = schools();
        let names: Vec<&str> = school_is.iter().map(|i| list[*i].name.as_str()).collect();
        let colon = if full_width { "：" } else { ":" };
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut report = format!("本周督导学校{colon}{}{nl}督导方式{colon}推门听课{lessons}节{nl}发现问题{colon}{nl}", names.join("、"));
        for (k, p) in problems.iter().enumerate() {
            let marker = if full_width { format!("{}．", k + 1) } else { format!("{}.", k + 1) };
            report.push_str(&format!("{marker}{p}{nl}"));
        }
        report.push_str(&format!("下周计划{colon}回访{nl}"));
        let r = report_parse::parse_weekly(&report, &list);
        let mut want_ids: Vec<i64> = Vec::new();
        for i in &school_is {
            if !want_ids.contains(&list[*i].id) {
                want_ids.push(list[*i].id);
            }
        }
        prop_assert_eq!(&r.schools, &want_ids, "{}", report);
        let want: Vec<String> = problems.iter().map(|p| normalize(p)).collect();
        prop_assert_eq!(&r.problem_items, &want, "{}", report);
        prop_assert!(!r.no_problems && !r.no_visits);
        prop_assert_eq!(r.methods.first().map(|m| m.1), Some(lessons));
    }
}

// ---------------------------------------------------------------------------------------------
// Visit records

proptest! {
    #![proptest_config(config())]

    /// Any text as a record or an answer: no panic; the school is the inspector's; fragments
    /// and problems come from the text; the summary and questions can always be written.
    #[test]
    fn visit_record_parse_is_total(s in text_of(32), day in 0i64..800) {
        let list = schools();
        let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Duration::days(day);
        let norm = normalize(&s);
        let v = visit_parse::parse_visit(&s, &list, today);
        prop_assert!(v.school.is_none_or(|id| ids.contains(&id)));
        for m in &v.ambiguous {
            // Several schools named in one record come back as one question: "甲、乙".
            prop_assert!(m.fragment.split('、').all(|f| norm.contains(f)), "fragment {:?}", m.fragment);
            prop_assert!(m.candidates.iter().all(|id| ids.contains(id)));
        }
        for u in &v.unknown_schools {
            prop_assert!(norm.contains(u.as_str()), "unknown {:?}", u);
        }
        for p in &v.problems {
            prop_assert!(made_of(p, &s), "problem {:?} not from {:?}", p, s);
        }
        let names = |id: i64| format!("学校{id}");
        visit_parse::visit_summary(&v, &names);
        v.next_question(&names);
        for field in [visit_parse::VisitField::School, visit_parse::VisitField::Activity] {
            let a = visit_parse::parse_visit_answer(field, &s, &list, today);
            let m = visit_parse::merge_visit(&v, &a);
            prop_assert!(m.school.is_none_or(|id| ids.contains(&id)));
        }
        visit_parse::find_date(&norm, today);
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks, dates, months, rectification

proptest! {
    #![proptest_config(config())]

    /// Task creation, deadlines, task references and name lists: no panic; what is returned
    /// is cut from the text.
    #[test]
    fn task_parsers_are_total(s in message(), mentions in 0usize..3, hour in 0u32..24) {
        let now = today().and_hms_opt(hour, 30, 0).expect("time");
        let default_time = NaiveTime::from_hms_opt(17, 0, 0).expect("time");
        if let Ok(spec) = task::parse_create(&s, mentions, now, default_time) {
            prop_assert!(made_of(&spec.title, &s), "title {:?}", spec.title);
        }
        task::parse_deadline(&s, now, default_time);
        task::parse_time(&s);
        task::parse_day(&s, now.date());
        if let Some((id, rest)) = task::parse_task_ref(&s) {
            prop_assert!(id > 0);
            prop_assert!(s.contains(rest));
        }
        for n in task::split_names(&s) {
            prop_assert!(s.contains(n.as_str()), "name {:?}", n);
        }
        if let Some(p) = task::zone_schools_prefix(&s) {
            prop_assert!(s.contains(p));
        }
    }

    /// Dates, ranges, weeks, months and theme publishing: no panic, and a range never ends
    /// before it starts.
    #[test]
    fn date_and_month_parsers_are_total(s in message(), day in 0i64..800) {
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Duration::days(day);
        dates::parse_date(&s, today, None);
        dates::parse_date(&s, today, Some(2));
        if let Some((a, b)) = dates::parse_range(&s, today) {
            prop_assert!(a <= b, "{} > {}", a, b);
        }
        weekly::parse_week(&s, today);
        weekly::parse_deadline_spec(&s);
        monthly::parse_month(&s, today);
        monthly::parse_month_label(&s);
        monthly::month_bounds(&s);
        let _ = monthly::parse_publish(&s, today);
        monthly::parse_categories(&s);
        monthly::classify_problem(&s);
        monthly::declares_theme(&s, "校园安全");
        monthly::match_indicator(&s, &["食堂留样".to_string(), "消防通道".to_string()]);
    }

    /// Problem records, self-check lists, references and deadlines: no panic; descriptions
    /// come from the text.
    #[test]
    fn rectify_parsers_are_total(s in message()) {
        if let Ok(p) = rectify::parse_record(&s, today()) {
            prop_assert!(made_of(&p.description, &s), "description {:?}", p.description);
            prop_assert!(made_of(&p.school, &s), "school {:?}", p.school);
        }
        let (lines, bad) = rectify::parse_self_check(&s);
        for l in &lines {
            prop_assert!(made_of(&l.description, &s), "line {:?}", l.description);
        }
        prop_assert!(bad.iter().all(|n| *n >= 1));
        rectify::parse_ref(&s);
        rectify::parse_self_check_ref(&s);
        rectify::parse_deadline(&s, today());
        rectify::parse_line_numbers(&s);
        rectify::parse_category(&s);
        rectify::Severity::parse(&s);
    }
}

// ---------------------------------------------------------------------------------------------
// School matching

proptest! {
    #![proptest_config(config())]

    /// Any text: matches are the inspector's schools, fragments are pieces of the text.
    #[test]
    fn school_matching_is_total(s in text()) {
        let list = schools();
        let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
        let norm = normalize(&s);
        let f = find_schools(&s, &list);
        prop_assert!(f.matched.iter().all(|id| ids.contains(id)));
        for m in f.ambiguous.iter() {
            prop_assert!(norm.contains(m.fragment.as_str()));
            prop_assert!(m.candidates.iter().all(|id| ids.contains(id)));
        }
        for u in &f.unknown {
            prop_assert!(norm.contains(u.as_str()));
        }
        for m in SchoolMatcher::new(&list).scan(&norm) {
            prop_assert!(norm.contains(m.fragment.as_str()) || m.exact);
        }
    }

    /// A school's full name set off by punctuation is always found, whatever surrounds it.
    #[test]
    fn school_full_names_are_found(i in 0usize..6, before in text(), after in text()) {
        let list = schools();
        let s = format!("{before}，{}，{after}", list[i].name);
        let f = find_schools(&s, &list);
        prop_assert!(f.matched.contains(&list[i].id), "{:?} in {:?}", list[i].name, s);
    }
}

// ---------------------------------------------------------------------------------------------
// Console lines and message splitting

fn console() -> ConsoleChannel {
    ConsoleChannel::new(
        "console",
        "督导助手",
        Box::new(tokio::io::BufReader::new(tokio::io::empty())),
        Box::new(tokio::io::sink()),
    )
}

proptest! {
    #![proptest_config(config())]

    /// Any line: no panic; account, group and text are pieces of the line; the message built
    /// from it keeps the text.
    #[test]
    fn console_lines_are_total(prefix in text_of(4), colon in select(&[":", "：", "@群:", ""][..]), rest in message()) {
        let line = format!("{prefix}{colon}{rest}");
        let c = console();
        if let Some(l) = parse_line(&line) {
            prop_assert!(line.contains(l.account.as_str()));
            prop_assert!(l.group.as_deref().is_none_or(|g| line.contains(g)));
            prop_assert!(line.contains(l.text.as_str()));
            let text = l.text.clone();
            let m = c.to_message(l, 1, 1);
            prop_assert!(text.contains(m.command_text().as_str()), "{:?} lost from {:?}", m.command_text(), text);
        }
    }
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        6 => text_of(12).prop_map(Segment::text),
        2 => (0u32..100_000, arbitrary_chars(8)).prop_map(|(id, name)| Segment::Mention { user_id: id.to_string(), name }),
        1 => Just(Segment::MentionAll),
        1 => (0u32..100).prop_map(|id| Segment::Reply { message_id: id.to_string() }),
        1 => Just(Segment::Image { media: dudao::chat::MediaRef { name: None, url: None, file_id: Some("f".into()) } }),
    ]
}

/// What a message consists of, with line breaks dropped (the splitter may drop them where it
/// cuts): characters of text, and the other segments whole. Replies are left out (they move
/// to the first part).
fn atoms(segments: &[Segment]) -> Vec<String> {
    let mut out = Vec::new();
    for s in segments {
        match s {
            Segment::Text { text } => out.extend(text.chars().filter(|c| *c != '\n').map(String::from)),
            Segment::Reply { .. } => {}
            other => out.push(format!("{other:?}")),
        }
    }
    out
}

fn visible_len(segments: &[Segment]) -> usize {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text { text } => text.chars().count(),
            Segment::Mention { name, .. } => name.chars().count() + 2,
            Segment::MentionAll => 6,
            Segment::Reply { .. } => 0,
            Segment::Image { .. } | Segment::File { .. } => 4,
        })
        .sum()
}

proptest! {
    #![proptest_config(config())]

    /// Reassembled parts equal the input (up to the line breaks at the cuts), no part exceeds
    /// the limit, mentions are never cut, and a quoted reply stays first.
    #[test]
    fn split_reassembles_and_respects_the_limit(segs in vec(segment(), 0..24), max in 1usize..120) {
        let parts = split_message(&segs, max);
        let limit = max.max(16);
        let joined: Vec<Segment> = parts.iter().flatten().cloned().collect();
        prop_assert_eq!(atoms(&joined), atoms(&segs));
        if parts.len() > 1 {
            for p in &parts {
                let len = visible_len(p);
                let lone_mention = p.iter().filter(|s| !matches!(s, Segment::Reply { .. })).count() == 1;
                prop_assert!(len <= limit || lone_mention, "part of {} > {}: {:?}", len, limit, p);
            }
            let replies: usize = segs.iter().filter(|s| matches!(s, Segment::Reply { .. })).count();
            let first_replies = parts[0].iter().take_while(|s| matches!(s, Segment::Reply { .. })).count();
            prop_assert_eq!(first_replies, replies);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OneBot

/// Arbitrary JSON values, biased towards OneBot message segments.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text_of(6).prop_map(Value::String),
        select(&["text", "at", "reply", "image", "file", "face", "all", "10001", "qq", "id", "data", "type"][..])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((select(&["type", "data", "text", "qq", "id", "name", "file", "url", "x"][..]), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn onebot_frame(kind: &str, message: Value, self_id: &Value) -> Value {
    json!({
        "post_type": "message", "message_type": kind, "sub_type": "normal",
        "self_id": self_id, "message_id": 123, "user_id": 20002, "group_id": 30003,
        "time": 1_700_000_000, "sender": {"card": "督学张", "nickname": "张"},
        "message": message, "raw_message": "",
    })
}

proptest! {
    #![proptest_config(config())]

    /// CQ strings: no panic; escaping round-trips; escaped text is one text segment, verbatim.
    #[test]
    fn onebot_cq_strings(s in text()) {
        let segs = wire::parse_cq(&s);
        let _ = wire::to_cq(&segs);
        prop_assert_eq!(wire::cq_unescape(&wire::cq_escape(&s, false)), s.clone());
        prop_assert_eq!(wire::cq_unescape(&wire::cq_escape(&s, true)), s.clone());
        let plain = wire::parse_cq(&wire::cq_escape(&s, false));
        if s.is_empty() {
            prop_assert!(plain.is_empty());
        } else {
            prop_assert_eq!(plain.len(), 1);
            prop_assert_eq!(plain[0].raw("text"), Some(s.clone()));
        }
    }

    /// Array-form and arbitrary JSON messages, whole frames and raw frame text: no panic.
    #[test]
    fn onebot_json_decoding(v in json_value(), raw in text(), group in any::<bool>(), self_num in any::<bool>()) {
        let _ = wire::parse_message(&v);
        let _ = wire::parse_frame(&raw);
        let self_id = if self_num { json!(10001) } else { json!("10001") };
        let frame = onebot_frame(if group { "group" } else { "private" }, v.clone(), &self_id);
        let _ = wire::parse_frame(&v.to_string());
        if let Ok(wire::Frame::Event(wire::Event::Message(ev))) = wire::parse_frame(&frame.to_string()) {
            let m = wire::to_inbound("qq", "10001", &ev, |_| false, chrono::Utc::now());
            let _ = m.text();
        }
    }

    /// A private text message arrives verbatim.
    #[test]
    fn onebot_private_text_is_verbatim(s in message()) {
        // Platforms send no empty text messages (and rejecting them would exhaust proptest's
        // reject budget on the long run).
        let s = if s.is_empty() { "帮助".to_string() } else { s };
        let frame = onebot_frame("private", json!([{"type": "text", "data": {"text": s}}]), &json!(10001));
        let parsed = wire::parse_frame(&frame.to_string());
        let Ok(wire::Frame::Event(wire::Event::Message(ev))) = parsed else {
            return Err(TestCaseError::fail("a message event"));
        };
        let m = wire::to_inbound("qq", "10001", &ev, |_| false, chrono::Utc::now());
        prop_assert_eq!(m.text(), s);
        prop_assert!(m.to_me);
    }
}

// ---------------------------------------------------------------------------------------------
// WeCom

const WECOM_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

/// Text XML 1.0 allows in a document (CDATA cannot hold "]]>" nor control characters, and
/// line ends are normalised by any XML reader).
fn xml_safe(s: &str) -> String {
    s.replace("]]>", "]]")
        .chars()
        .filter(|c| matches!(c, '\t' | '\n') || (!c.is_control() && !matches!(*c, '\u{FFFE}' | '\u{FFFF}')))
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary callback bodies: no panic; whatever parses decodes to a message or a refusal.
    #[test]
    fn wecom_xml_decoding_is_total(s in text(), inner in text(), tag in select(&["Content", "MsgType", "FromUserName", "MsgId", "xml", "a"][..])) {
        if let Some(f) = parse_flat_xml(&s) {
            let _ = decode_app_message("wecom", &f);
        }
        let doc = format!("<xml><{tag}>{inner}</{tag}><MsgType>text</MsgType></xml>");
        if let Some(f) = parse_flat_xml(&doc) {
            let _ = decode_app_message("wecom", &f);
        }
        let c = MsgCrypt::new("tok", WECOM_KEY, "corp").expect("key");
        let _ = c.decrypt(&s);
        let _ = c.verify(&s, "1", "2", &inner);
    }

    /// A text message, encrypted and wrapped as WeCom sends it, decodes to its content verbatim.
    #[test]
    fn wecom_text_round_trip(s in text()) {
        let content = xml_safe(&s);
        let inner = format!(
            "<xml><ToUserName><![CDATA[corp]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[{content}]]></Content><MsgId>42</MsgId><AgentID>1</AgentID></xml>"
        );
        let c = MsgCrypt::new("tok", WECOM_KEY, "corp").expect("key");
        let enc = c.encrypt(&inner);
        let plain = c.decrypt(&enc).expect("decrypts");
        prop_assert_eq!(&plain, &inner);
        let f = parse_flat_xml(&plain).expect("well-formed");
        match decode_app_message("wecom", &f) {
            Ok(Decoded::Message(m)) => prop_assert_eq!(m.text(), content),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Telegram

fn me() -> BotIdentity {
    BotIdentity { id: 4242, username: "dudao_bot".into() }
}

fn entity() -> impl Strategy<Value = Value> {
    (
        select(&["mention", "bot_command", "text_mention", "bold", "url", "hashtag"][..]),
        prop_oneof![0u64..40, Just(u64::from(u32::MAX)), any::<u32>().prop_map(u64::from)],
        prop_oneof![0u64..40, Just(u64::from(u32::MAX)), any::<u32>().prop_map(u64::from)],
    )
        .prop_map(|(kind, offset, length)| {
            let mut e = json!({"type": kind, "offset": offset, "length": length});
            if kind == "text_mention" {
                e["user"] = json!({"id": 999, "is_bot": false, "first_name": "三"});
            }
            e
        })
}

proptest! {
    #![proptest_config(config())]

    /// Any text with any entities, in groups and privately: no panic; the text outside
    /// mentions is a piece of what was sent.
    #[test]
    fn telegram_messages_are_total(
        s in message(),
        entities in vec(entity(), 0..5),
        private in any::<bool>(),
        caption in any::<bool>(),
    ) {
        // Platforms send no empty text messages (and rejecting them would exhaust proptest's
        // reject budget on the long run).
        let s = if s.is_empty() { "帮助".to_string() } else { s };
        let chat = if private { json!({"id": 555, "type": "private", "first_name": "芳"}) }
            else { json!({"id": -100123, "type": "supergroup", "title": "督学群"}) };
        let mut v = json!({
            "message_id": 77, "date": 1_700_000_000, "chat": chat,
            "from": {"id": 555, "is_bot": false, "first_name": "芳"},
        });
        if caption {
            v["caption"] = json!(s);
            v["caption_entities"] = json!(entities);
            v["photo"] = json!([{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]);
        } else {
            v["text"] = json!(s);
            v["entities"] = json!(entities);
        }
        let Ok(m) = serde_json::from_value::<teloxide::types::Message>(v) else {
            // Not a message Telegram could send (e.g. an offset beyond usize): nothing to map.
            return Ok(());
        };
        if let Some(i) = map_message("telegram", &me(), &m) {
            for seg in &i.segments {
                if let Segment::Text { text } = seg {
                    prop_assert!(s.contains(text.as_str()), "{:?} not in {:?}", text, s);
                }
            }
            if entities.is_empty() {
                prop_assert_eq!(i.command_text(), s);
            }
        }
    }
}

// The whole pipeline under arbitrary input is tests/proptest_pipeline.rs (its own budget,
// PIPELINE_CASES, since each case is a database round trip).
