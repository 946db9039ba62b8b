//! Finds references to an inspector's own schools in free Chinese text.
//!
//! Two passes:
//! 1. **Exact keys**: each school's full name, short name (简称), aliases, and names derived from
//!    the full name (county prefix removed: "示例县实验小学" → "实验小学"; town marker dropped:
//!    "青石镇中心小学" → "青石中心小学"; village schools by the village: "青石镇石桥村小学" → "石桥村小学",
//!    "石桥村小"; "中心小学" → "中心校"; "完全小学" → "完小"). Longest key first,
//!    no overlaps, and a key only counts when it is not the tail of a longer name ("第二实验小学" does
//!    not match "实验小学"). A key shared by two schools is ambiguous, never a guess.
//! 2. **School-like mentions** in the rest of the text ("青石小学", "中心小学", "城东小学"): a name
//!    ending in a school word (小学/中学/学校/幼儿园/…). Its distinctive part ("青石", "中心") is
//!    looked up in the inspector's schools of a compatible type; one or more candidates make it a
//!    fragment to confirm, none make it an unknown school.
//!
//! Only the schools passed in are candidates: an inspector's report is matched against that
//! inspector's own list, so another zone's school shows up as unknown.

use serde::{Deserialize, Serialize};

use super::text::{is_cjk, normalize, normalize_key};

/// A school the inspector is responsible for, as the matcher needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolRef {
    pub id: i64,
    /// Full official name, e.g. "示例县青石镇中心小学".
    pub name: String,
    /// 简称, e.g. "青石中小".
    pub short_name: Option<String>,
    /// Other names people use ("一小", "县实小").
    pub aliases: Vec<String>,
}

/// One school reference found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolMatch {
    /// The text as written ("实验小学", "中心小学").
    pub fragment: String,
    /// Matching school ids. With `exact`: 1 = matched, >1 = ambiguous. Without `exact` (a partial
    /// name): every candidate needs confirmation, even a single one. Empty = unknown school.
    pub candidates: Vec<i64>,
    /// Whether the fragment equals one of the schools' names/keys (rather than a partial name).
    pub exact: bool,
}

impl SchoolMatch {
    /// A single school, matched by one of its names: safe to take without asking.
    pub fn is_certain(&self) -> bool {
        self.exact && self.candidates.len() == 1
    }
}

/// The schools found in a text, split by what the bot has to do with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolFindings {
    /// Certain matches: unique ids, in order of first mention.
    pub matched: Vec<i64>,
    /// Fragments the inspector must resolve: a name shared by several schools, or a partial name
    /// ("青石小学") with one or more candidates. Never guessed.
    pub ambiguous: Vec<SchoolMatch>,
    /// School-like names that are none of the inspector's schools ("城东小学").
    pub unknown: Vec<String>,
}

impl SchoolFindings {
    /// Whether the text mentioned any school at all.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty() && self.ambiguous.is_empty() && self.unknown.is_empty()
    }

    /// Adds `other`'s findings after ours, keeping every list free of duplicates.
    pub fn extend(&mut self, other: &SchoolFindings) {
        for id in &other.matched {
            if !self.matched.contains(id) {
                self.matched.push(*id);
            }
        }
        for m in &other.ambiguous {
            if !self.ambiguous.contains(m) {
                self.ambiguous.push(m.clone());
            }
        }
        for u in &other.unknown {
            if !self.unknown.contains(u) {
                self.unknown.push(u.clone());
            }
        }
        // A partial name whose only candidate is now matched for certain is that school.
        let matched = &self.matched;
        self.ambiguous.retain(|m| m.exact || m.candidates.len() != 1 || !matched.contains(&m.candidates[0]));
    }
}

/// School words a name ends with, longest first, with the school type they imply.
const SCHOOL_SUFFIXES: &[(&str, Kind)] = &[
    ("九年一贯制学校", Kind::Any),
    ("九年制学校", Kind::Any),
    ("十二年一贯制学校", Kind::Any),
    ("幼儿园", Kind::Kindergarten),
    ("教学点", Kind::Primary),
    ("中心校", Kind::Any),
    ("小学", Kind::Primary),
    ("完小", Kind::Primary),
    ("实小", Kind::Primary),
    ("附小", Kind::Primary),
    ("村小", Kind::Primary),
    ("中学", Kind::Secondary),
    ("初中", Kind::Secondary),
    ("高中", Kind::Secondary),
    ("附中", Kind::Secondary),
    ("职中", Kind::Secondary),
    ("职高", Kind::Secondary),
    ("学校", Kind::Any),
];

/// Chars that end a name when scanning left from a school word: verbs, particles, counters.
/// The last character before a key must be one of these (or not a CJK char) for the key to count.
// Deliberately not here: 镇 乡 村 (part of names: "青石镇小学"), 向 同 天 月 和 is kept because as a
// conjunction it is far more common than in names ("和平小学" still matches as an exact key).
const STOP_CHARS: &str = "了到在去赴和与及跟对的是往访导查至从共计所各该本全每这那此给为把被入课周午日号次节个校我你他她们县区市省里就还也都又再已曾将要并或即有";

/// Words that end a name's left context ("发现部分学校" is not a school called "发现部分学校").
const STOP_WORDS: &[&str] = &[
    "发现", "部分", "督导", "走访", "检查", "前往", "深入", "来到", "进入", "听课", "包括", "分别", "以及", "还有",
    "本周", "上周", "下周", "今天", "昨天", "对于", "关于", "其中", "其他", "其它", "所有", "一些", "多所", "全部",
];

/// Words that make a name generic ("农村小学", "全县中小学").
const GENERIC_WORDS: &[&str] = &[
    "农村",
    "城区",
    "城镇",
    "乡镇",
    "乡村",
    "城乡",
    "民办",
    "公办",
    "私立",
    "周边",
    "附近",
    "兄弟",
    "薄弱",
    "寄宿制",
    "偏远",
    "小规模",
    "相关",
    "有关",
    "辖区",
    "责任区",
    "片区",
    "全县",
    "全区",
    "全市",
    "本县",
    "本区",
    "本市",
    "我县",
    "我区",
    "我市",
    "其余",
    "该",
    "各",
    "本",
    "全",
    "每",
    "某",
    "多",
    "几",
    "些",
    "这",
    "那",
    "此",
];

/// Things that end like a school name but are not schools.
const NOT_SCHOOL_PREFIXES: &[&str] = &["家长", "业余", "培训", "校外", "老年", "社区", "党", "驾", "网", "夜"];

/// Chars after a school word that show it is not a name ("小学生", "初中部", "小学阶段").
const NOT_SCHOOL_NEXT: &str = "生部段阶组科版化";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Primary,
    Secondary,
    Kindergarten,
    Any,
}

impl Kind {
    fn compatible(self, other: Kind) -> bool {
        self == Kind::Any || other == Kind::Any || self == other
    }

    fn of_name(name: &str) -> Kind {
        if name.ends_with("幼儿园") {
            Kind::Kindergarten
        } else if name.contains("九年") || name.contains("一贯制") {
            Kind::Any
        } else if name.contains("小学") || name.ends_with("完小") || name.ends_with("教学点") {
            Kind::Primary
        } else if name.contains("中学") || name.contains("初中") || name.contains("高中") {
            Kind::Secondary
        } else {
            Kind::Any
        }
    }
}

#[derive(Debug, Clone)]
struct SchoolInfo {
    id: i64,
    kind: Kind,
    /// Names without the administrative prefix: where a partial name is looked up.
    core_names: Vec<String>,
}

/// Precomputed lookup for one inspector's schools. Build it once per parse (it is cheap).
#[derive(Debug, Clone, Default)]
pub struct SchoolMatcher {
    /// (key, ids), longest key first.
    keys: Vec<(String, Vec<i64>)>,
    schools: Vec<SchoolInfo>,
}

/// A school name as a matching key: the one key function used for every name lookup, so a
/// name imported as "清河县第２中学" or "实验　小学" matches chat text "第2中学", "实验小学".
fn clean_name(s: &str) -> String {
    normalize_key(s)
}

/// Whether a derived key is still specific enough to stand for one school.
fn derived_key_ok(key: &str) -> bool {
    let n = key.chars().count();
    if n < 3 {
        return false;
    }
    // "小学", "中心小学", "中心校" alone name no school in particular.
    let rest = key.strip_prefix("中心").unwrap_or(key);
    !SCHOOL_SUFFIXES.iter().any(|(s, _)| *s == rest)
}

/// Removes one leading administrative prefix ("示例县", "示例市", "示例省") of 2–7 chars.
/// Returns the rest and whether the removed part was a county-level one (no further stripping).
fn strip_admin_prefix(name: &str) -> Option<(&str, bool)> {
    for (count, (i, c)) in name.char_indices().enumerate() {
        if count >= 7 {
            break;
        }
        if count >= 1 && matches!(c, '省' | '市' | '县' | '区' | '旗') {
            let rest = &name[i + c.len_utf8()..];
            if rest.chars().count() >= 2 {
                return Some((rest, matches!(c, '县' | '区' | '旗')));
            }
            return None;
        }
    }
    None
}

/// All keys for a school: (key, is_core). Core keys carry no administrative prefix.
fn school_keys(s: &SchoolRef) -> Vec<(String, bool)> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    let full = clean_name(&s.name);
    let mut stripped_chain: Vec<String> = Vec::new();
    let mut cur = full.as_str();
    // Province → city → county at most: "示例省示例市示例县实验小学".
    for _ in 0..3 {
        match strip_admin_prefix(cur) {
            Some((rest, county_level)) => {
                stripped_chain.push(rest.to_string());
                cur = rest;
                if county_level {
                    break;
                }
            }
            None => break,
        }
    }
    let final_name = stripped_chain.last().cloned().unwrap_or_else(|| full.clone());
    if full.chars().count() >= 2 {
        keys.push((full.clone(), stripped_chain.is_empty()));
    }
    for (i, k) in stripped_chain.iter().enumerate() {
        if derived_key_ok(k) {
            keys.push((k.clone(), i + 1 == stripped_chain.len()));
        }
    }
    // Variants of the final name.
    let mut variants: Vec<String> = Vec::new();
    // Town marker dropped: "青石镇中心小学" → "青石中心小学" (town names are 2–3 chars).
    for (count, (i, c)) in final_name.char_indices().enumerate() {
        if count > 3 {
            break;
        }
        if count >= 2 && matches!(c, '镇' | '乡') {
            let v = format!("{}{}", &final_name[..i], &final_name[i + c.len_utf8()..]);
            variants.push(v);
            break;
        }
    }
    // Village schools go by the village alone: "青石镇石桥村小学" → "石桥村小学".
    for (count, (i, c)) in final_name.char_indices().enumerate() {
        if count > 3 {
            break;
        }
        if count >= 2 && matches!(c, '镇' | '乡') {
            let rest = &final_name[i + c.len_utf8()..];
            if rest.contains('村') && !rest.starts_with("中心") {
                variants.push(rest.to_string());
            }
            break;
        }
    }
    if let Some(pos) = final_name.find("街道") {
        if (2..=9).contains(&pos) {
            variants.push(final_name.replacen("街道", "", 1));
        }
    }
    let mut abbreviated = Vec::new();
    for v in std::iter::once(&final_name).chain(variants.iter()) {
        for (long, short) in [("中心小学", "中心校"), ("中心学校", "中心校"), ("完全小学", "完小"), ("村小学", "村小")]
        {
            if let Some(head) = v.strip_suffix(long) {
                abbreviated.push(format!("{head}{short}"));
            }
        }
    }
    variants.extend(abbreviated);
    for v in variants {
        if derived_key_ok(&v) {
            keys.push((v, true));
        }
    }
    for extra in s.short_name.iter().chain(s.aliases.iter()) {
        let k = clean_name(extra);
        // Configured names are trusted down to two chars ("一小", "实小").
        if k.chars().count() >= 2 {
            keys.push((k, true));
        }
    }
    let mut seen = Vec::new();
    keys.retain(|(k, _)| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    keys
}

impl SchoolMatcher {
    pub fn new(schools: &[SchoolRef]) -> Self {
        let mut keys: Vec<(String, Vec<i64>)> = Vec::new();
        // Where each key is in `keys`: a county has hundreds of keys, and a linear search for
        // each made building the matcher quadratic (it is built for every weekly report).
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut infos = Vec::new();
        for s in schools {
            let ks = school_keys(s);
            let core_names: Vec<String> = ks.iter().filter(|(_, core)| *core).map(|(k, _)| k.clone()).collect();
            for (k, _) in ks {
                match index.get(&k) {
                    Some(&i) => {
                        let ids = &mut keys[i].1;
                        if !ids.contains(&s.id) {
                            ids.push(s.id);
                        }
                    }
                    None => {
                        index.insert(k.clone(), keys.len());
                        keys.push((k, vec![s.id]));
                    }
                }
            }
            infos.push(SchoolInfo { id: s.id, kind: Kind::of_name(&clean_name(&s.name)), core_names });
        }
        keys.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        SchoolMatcher { keys, schools: infos }
    }

    /// Every school reference in `text`, in text order. `text` should already be normalised
    /// (see [`normalize`]); it is used as given.
    pub fn scan(&self, text: &str) -> Vec<SchoolMatch> {
        // Keys are ASCII case-folded (normalize_key); folding the text too keeps its byte
        // offsets, and fragments are cut from this folded copy itself, never from the caller's.
        let folded = text.to_ascii_lowercase();
        let text = folded.as_str();
        let mut occupied = vec![false; text.len()];
        // (start byte, match)
        let mut found: Vec<(usize, SchoolMatch)> = Vec::new();

        // Pass 1: exact keys, longest first.
        for (key, ids) in &self.keys {
            for (start, _) in text.match_indices(key.as_str()) {
                let end = start + key.len();
                if occupied[start..end].iter().any(|o| *o) {
                    continue;
                }
                if !left_boundary_ok(text, start) {
                    // The tail of a longer name; pass 2 looks at the whole name.
                    continue;
                }
                occupied[start..end].iter_mut().for_each(|o| *o = true);
                found.push((start, SchoolMatch { fragment: key.clone(), candidates: ids.clone(), exact: true }));
            }
        }

        // Pass 2: school-like names in the text left over.
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut ci = 0;
        while ci < chars.len() {
            let (b, _) = chars[ci];
            if occupied[b] {
                ci += 1;
                continue;
            }
            let rest = &text[b..];
            let Some((suffix, kind)) = SCHOOL_SUFFIXES.iter().find(|(s, _)| rest.starts_with(s)) else {
                ci += 1;
                continue;
            };
            let suffix_chars = suffix.chars().count();
            let end = b + suffix.len();
            if occupied[b..end].iter().any(|o| *o) {
                ci += 1;
                continue;
            }
            let next = text[end..].chars().next();
            if next.is_some_and(|c| NOT_SCHOOL_NEXT.contains(c)) {
                ci += suffix_chars;
                continue;
            }
            // Extend left over the name: CJK chars only, at most 10, stop at a stop char.
            let mut j = ci;
            while j > 0 && ci - j < 10 {
                let (pb, pc) = chars[j - 1];
                if occupied[pb] || !is_cjk(pc) || STOP_CHARS.contains(pc) {
                    break;
                }
                j -= 1;
            }
            let mut prefix = &text[chars[j].0..b];
            // Cut at the last stop word inside the prefix.
            if let Some(cut) = STOP_WORDS.iter().filter_map(|w| prefix.rfind(w).map(|p| p + w.len())).max() {
                prefix = &prefix[cut..];
            }
            let name_start = b - prefix.len();
            if let Some(core) = distinctive(prefix) {
                if !NOT_SCHOOL_PREFIXES.iter().any(|p| prefix.ends_with(p)) {
                    let fragment = text[name_start..end].to_string();
                    let candidates = self.partial_candidates(core, *kind);
                    occupied[name_start..end].iter_mut().for_each(|o| *o = true);
                    found.push((name_start, SchoolMatch { fragment, candidates, exact: false }));
                }
            }
            ci += suffix_chars;
        }

        found.sort_by_key(|(start, _)| *start);
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// The findings for `text`: certain matches, fragments to confirm, unknown schools.
    pub fn find(&self, text: &str) -> SchoolFindings {
        let mut f = SchoolFindings::default();
        for m in self.scan(text) {
            if m.is_certain() {
                if !f.matched.contains(&m.candidates[0]) {
                    f.matched.push(m.candidates[0]);
                }
            } else if m.candidates.is_empty() {
                if !f.unknown.contains(&m.fragment) {
                    f.unknown.push(m.fragment);
                }
            } else if !f.ambiguous.contains(&m) {
                f.ambiguous.push(m);
            }
        }
        // Partial names whose only candidate was also named in full refer to that school.
        let matched = &f.matched;
        f.ambiguous.retain(|m| m.exact || m.candidates.len() != 1 || !matched.contains(&m.candidates[0]));
        f
    }

    /// The findings for an inspector whose own schools are `mine`, with this matcher built over
    /// the county's schools: a name that is one of the inspector's schools is matched (their own
    /// school wins a name it shares with others); a name shared by several schools of the
    /// county, or a partial one, is a fragment to confirm, listing the inspector's own
    /// candidates first (at most [`MAX_CANDIDATES`] in all); a name that is one school, not
    /// theirs, or no school at all, is unknown.
    pub fn find_for(&self, text: &str, mine: &[i64]) -> SchoolFindings {
        let mut f = SchoolFindings::default();
        for m in self.scan(text) {
            let (own, other): (Vec<i64>, Vec<i64>) = m.candidates.iter().copied().partition(|id| mine.contains(id));
            if m.exact && own.len() == 1 {
                if !f.matched.contains(&own[0]) {
                    f.matched.push(own[0]);
                }
            } else if own.is_empty() && other.len() <= 1 {
                if !f.unknown.contains(&m.fragment) {
                    f.unknown.push(m.fragment);
                }
            } else {
                let mut candidates = own;
                let room = MAX_CANDIDATES.saturating_sub(candidates.len());
                candidates.extend(other.into_iter().take(room));
                let m = SchoolMatch { fragment: m.fragment, candidates, exact: m.exact };
                if !f.ambiguous.contains(&m) {
                    f.ambiguous.push(m);
                }
            }
        }
        let matched = &f.matched;
        f.ambiguous.retain(|m| m.exact || m.candidates.len() != 1 || !matched.contains(&m.candidates[0]));
        f
    }

    fn partial_candidates(&self, core: &str, kind: Kind) -> Vec<i64> {
        self.schools
            .iter()
            .filter(|s| s.kind.compatible(kind) && s.core_names.iter().any(|n| n.contains(core)))
            .map(|s| s.id)
            .collect()
    }
}

/// The most candidates one confirmation question lists.
pub const MAX_CANDIDATES: usize = 9;

/// The question that resolves one uncertain fragment, e.g.
/// "“中心小学”是指哪所学校？请回复序号：\n1. 示例县青石镇中心小学\n2. 示例县白沙镇中心小学", or for a
/// single candidate "“青石小学”是指示例县青石镇中心小学吗？请回复“是”，或写出学校全称。".
pub fn confirm_question(m: &SchoolMatch, names: &dyn Fn(i64) -> String) -> String {
    match m.candidates.as_slice() {
        [] => format!("“{}”不在您负责的学校名单中，请写出学校全称，或联系督导室更新名单。", m.fragment),
        [one] => format!("“{}”是指{}吗？请回复“是”，或写出学校全称。", m.fragment, names(*one)),
        many => {
            let list: Vec<String> =
                many.iter().enumerate().map(|(i, id)| format!("{}. {}", i + 1, names(*id))).collect();
            format!("“{}”是指哪所学校？请回复序号：\n{}", m.fragment, list.join("\n"))
        }
    }
}

/// Convenience: match `text` (normalised here) against `schools`.
pub fn find_schools(text: &str, schools: &[SchoolRef]) -> SchoolFindings {
    SchoolMatcher::new(schools).find(&normalize(text))
}

/// A key may start at `start` only if it is not glued to a longer name on its left.
fn left_boundary_ok(text: &str, start: usize) -> bool {
    match text[..start].chars().next_back() {
        None => true,
        Some(c) => !(is_cjk(c) || c.is_ascii_alphanumeric()) || STOP_CHARS.contains(c),
    }
}

/// The distinctive part of a name's prefix ("本县青石" → "青石"), or `None` when what is left
/// is generic or too short to identify a school ("农村", "各", "3所").
fn distinctive(prefix: &str) -> Option<&str> {
    let mut p = prefix;
    loop {
        let before = p.len();
        for w in GENERIC_WORDS {
            if let Some(r) = p.strip_prefix(w) {
                p = r;
                break;
            }
        }
        // Leading numerals ("两所", "三") are counts, not names; "第一" keeps its 第.
        p = p.trim_start_matches(super::text::is_numeral_char);
        if p.len() == before {
            break;
        }
    }
    let rest_is_generic = GENERIC_WORDS.contains(&p);
    if p.chars().count() < 2 || rest_is_generic {
        None
    } else {
        Some(p)
    }
}

/// How a school is named back to an inspector: its short name, else its full name.
pub fn display_names(schools: &[SchoolRef]) -> impl Fn(i64) -> String + '_ {
    move |id| {
        schools
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.short_name.clone().unwrap_or_else(|| s.name.clone()))
            .unwrap_or_else(|| format!("学校{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn school(id: i64, name: &str, short: Option<&str>, aliases: &[&str]) -> SchoolRef {
        SchoolRef {
            id,
            name: name.to_string(),
            short_name: short.map(str::to_string),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn my_schools() -> Vec<SchoolRef> {
        vec![
            school(1, "示例县实验小学", Some("县实小"), &[]),
            school(2, "示例县青石镇中心小学", None, &[]),
            school(3, "示例县白沙镇中心小学", None, &["白小"]),
            school(4, "示例县第一中学", Some("一中"), &["县一中"]),
            school(5, "示例县城关幼儿园", None, &[]),
        ]
    }

    #[test]
    fn keys_are_derived_from_full_names() {
        let keys: Vec<String> = school_keys(&my_schools()[1]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["示例县青石镇中心小学", "青石镇中心小学", "青石中心小学", "青石镇中心校", "青石中心校"]);
        let keys: Vec<String> =
            school_keys(&school(9, "示例市示例区实验小学", None, &[])).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["示例市示例区实验小学", "示例区实验小学", "实验小学"]);
        // "城区小学" keeps its district-looking word; "小学" alone is never a key.
        let keys: Vec<String> =
            school_keys(&school(9, "示例县城区小学", None, &[])).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["示例县城区小学", "城区小学"]);
    }

    #[test]
    fn village_school_names() {
        let schools = vec![school(6, "示例县青石镇石桥村小学", None, &[])];
        let keys: Vec<String> = school_keys(&schools[0]).into_iter().map(|(k, _)| k).collect();
        assert!(keys.contains(&"石桥村小学".to_string()) && keys.contains(&"石桥村小".to_string()), "{keys:?}");
        let f = find_schools("和石桥村小", &schools);
        assert_eq!(f.matched, vec![6]);
        // "小学化" is a term, not a school; a school word inside the name stops the name.
        let f = find_schools("幼儿园有小学化倾向", &schools);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn exact_and_abbreviated_names() {
        let f = find_schools("本周走访了实验小学、青石中心小学和白沙镇中心校，县一中听课2节", &my_schools());
        assert_eq!(f.matched, vec![1, 2, 3, 4]);
        assert!(f.ambiguous.is_empty(), "{f:?}");
        assert!(f.unknown.is_empty(), "{f:?}");
    }

    #[test]
    fn full_name_wins_over_short_key() {
        let f = find_schools("示例县实验小学", &my_schools());
        assert_eq!(f.matched, vec![1]);
    }

    #[test]
    fn longer_other_name_is_not_our_school() {
        // "第二实验小学" is not "实验小学": unknown, not matched.
        let f = find_schools("到第二实验小学听课", &my_schools());
        assert!(f.matched.is_empty(), "{f:?}");
        assert_eq!(f.unknown, vec!["第二实验小学"]);
    }

    #[test]
    fn partial_name_is_ambiguous_between_two() {
        let f = find_schools("今天去了中心小学", &my_schools());
        assert!(f.matched.is_empty());
        assert_eq!(f.ambiguous.len(), 1);
        assert_eq!(f.ambiguous[0].fragment, "中心小学");
        assert_eq!(f.ambiguous[0].candidates, vec![2, 3]);
        assert!(!f.ambiguous[0].exact);
    }

    #[test]
    fn partial_single_candidate_needs_confirmation() {
        let f = find_schools("走访青石小学", &my_schools());
        assert!(f.matched.is_empty());
        assert_eq!(f.ambiguous.len(), 1);
        assert_eq!(f.ambiguous[0].candidates, vec![2]);
        // A middle school word does not fit a primary school.
        let f = find_schools("走访青石中学", &my_schools());
        assert_eq!(f.unknown, vec!["青石中学"]);
    }

    #[test]
    fn shared_key_is_ambiguous() {
        let schools = vec![school(1, "示例县实验小学", None, &[]), school(2, "邻县实验小学", None, &[])];
        let f = find_schools("实验小学", &schools);
        assert!(f.matched.is_empty());
        assert_eq!(f.ambiguous[0].candidates, vec![1, 2]);
        assert!(f.ambiguous[0].exact);
        let f = find_schools("邻县实验小学", &schools);
        assert_eq!(f.matched, vec![2]);
    }

    #[test]
    fn generic_school_words_are_not_schools() {
        let f = find_schools(
            "本周走访3所学校，发现部分学校作业偏多，农村小学食堂不规范，小学生安全意识薄弱，家长学校未开展",
            &my_schools(),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn unknown_school() {
        let f = find_schools("走访城东小学", &my_schools());
        assert_eq!(f.unknown, vec!["城东小学"]);
    }

    #[test]
    fn confirm_questions() {
        let names = |id: i64| format!("学校{id}");
        let m = SchoolMatch { fragment: "中心小学".into(), candidates: vec![2, 3], exact: false };
        assert_eq!(confirm_question(&m, &names), "“中心小学”是指哪所学校？请回复序号：\n1. 学校2\n2. 学校3");
        let m = SchoolMatch { fragment: "青石小学".into(), candidates: vec![2], exact: false };
        assert!(confirm_question(&m, &names).contains("是指学校2吗"));
    }

    #[test]
    fn full_width_and_spaced_names_match_half_width_text() {
        let schools = [school(1, "清河县第２中学", None, &[]), school(2, "实验　小学", Some("ＳＹ小"), &[])];
        let f = find_schools("今天去第2中学听课，下午到实验小学和sy小", &schools);
        assert_eq!(f.matched, vec![1, 2]);
        assert!(f.unknown.is_empty() && f.ambiguous.is_empty(), "{f:?}");
    }

    #[test]
    fn county_wide_names_own_schools_first() {
        let county = vec![
            school(11, "示例县东河镇中心小学", None, &[]),
            school(12, "示例县红旗乡中心小学", None, &[]),
            school(13, "示例县马头镇中心小学", None, &[]),
            school(14, "示例县桃源镇阳光小学", Some("阳光小学"), &[]),
            school(15, "示例县红旗乡中学", Some("红旗中学"), &[]),
        ];
        let m = SchoolMatcher::new(&county);
        // Shared county-wide: asked about, the inspector's own candidate first.
        let f = m.find_for(&normalize("本周督导学校：中心小学、红旗中学"), &[12, 15]);
        assert_eq!(f.matched, vec![15]);
        assert_eq!(f.ambiguous.len(), 1, "{f:?}");
        assert_eq!(f.ambiguous[0].candidates, vec![12, 11, 13]);
        assert!(f.unknown.is_empty());
        // None of them the inspector's own: still a question, not "not yours".
        let f = m.find_for("中心小学", &[14]);
        assert_eq!(f.ambiguous[0].candidates, vec![11, 12, 13]);
        assert!(f.unknown.is_empty());
        // One school, someone else's: not theirs.
        let f = m.find_for("阳光小学", &[12]);
        assert_eq!(f.unknown, vec!["阳光小学"]);
        assert!(f.matched.is_empty() && f.ambiguous.is_empty());
        // Many candidates: the list is capped, the own one always in it.
        let many: Vec<SchoolRef> =
            (0..20).map(|i| school(100 + i, &format!("示例县乡{i}镇中心小学"), None, &[])).collect();
        let mut all = many.clone();
        all.push(school(99, "示例县青石镇中心小学", None, &[]));
        let f = SchoolMatcher::new(&all).find_for("中心小学", &[99]);
        assert_eq!(f.ambiguous[0].candidates.len(), MAX_CANDIDATES);
        assert_eq!(f.ambiguous[0].candidates[0], 99);
    }

    #[test]
    fn no_schools_no_matches() {
        let f = find_schools("实验小学", &[]);
        assert!(f.matched.is_empty());
    }
}
