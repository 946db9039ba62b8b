//! Small text helpers shared by the chat-text parsers (weekly reports, visit records).
//!
//! Everything here is pure and total: any input, including binary junk, gives an answer without
//! panicking. All slicing happens at char boundaries (`char_indices`, `strip_prefix`), never at
//! computed byte offsets.

/// Normalises chat text before parsing.
///
/// - CRLF and lone CR become LF; tabs and other control characters become a space (binary junk
///   must not reach the parsers as control codes).
/// - Zero-width characters (U+200B–U+200D, U+2060, U+FEFF, U+180E) are removed: phones insert them
///   and they would split keywords.
/// - U+3000 (ideographic space) and U+00A0 become an ASCII space.
/// - Full-width ASCII (U+FF01–U+FF5E) becomes half-width: letters, digits and *structural*
///   punctuation (`：` → `:`, `（）` → `()`, `．` → `.`, `－` → `-`, `／` → `/` …), so the parsers
///   only deal with one form of a label colon or a list marker.
/// - Sentence punctuation that belongs to Chinese prose stays as written: `，` `；` `！` `？`
///   (and `、` `。` `【】` `“”`, which are outside the full-width block anyway). Text we hand back to
///   people (problem items, summaries) then still reads as Chinese.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                // CRLF → LF; a lone CR (old Mac, some Android keyboards) → LF too.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' => out.push('\n'),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' => {}
            '\u{3000}' | '\u{00A0}' | '\t' => out.push(' '),
            c if c.is_control() => out.push(' '),
            '，' | '；' | '！' | '？' => out.push(c),
            '\u{FF01}'..='\u{FF5E}' => {
                // The full-width block is a fixed offset from ASCII 0x21–0x7E.
                let ascii = (c as u32) - 0xFF01 + 0x21;
                out.push(char::from_u32(ascii).unwrap_or(c));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The one comparison key for names and codes (people, schools, zones), used both when a
/// roster is imported and when chat text names something.
///
/// NFKC (full-width letters and digits become half-width: "ＱＨ３" → "QH3"), then every
/// whitespace character (ASCII, U+3000 used to align two-character names, U+00A0) and the
/// zero-width characters phones insert are removed, and ASCII is case-folded: codes are
/// typed in any case. "王　芳" and "王 芳" both give "王芳".
///
/// The key is for comparing only: display the verbatim value, and never slice the original
/// by offsets found in the key.
pub fn normalize_key(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfkc()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate a misspelt `query` most likely meant, for a "是否为“…”？" hint: compared by
/// [`normalize_key`], at most 2 edits and at most a third of the query's length, and strictly
/// closer than every other candidate. `None` rather than a guess between near-equals.
pub fn closest_name<'a>(query: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let q = normalize_key(query);
    let len = q.chars().count();
    // Long inputs are not names; skip the quadratic work.
    if len == 0 || len > 60 {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    let mut tie = false;
    for c in candidates {
        let d = edit_distance(&q, &normalize_key(c));
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, bc)) if d == bd => tie |= normalize_key(bc) != normalize_key(c),
            _ => {
                best = Some((d, c));
                tie = false;
            }
        }
    }
    let (d, name) = best?;
    (!tie && d <= 2 && d * 3 <= len).then_some(name)
}

/// The " 是否为“…”？" hint after a not-found reply, or nothing.
pub fn did_you_mean(name: Option<&str>) -> String {
    name.map(|n| format!("是否为“{n}”？")).unwrap_or_default()
}

/// Value of a single Chinese or Arabic digit character (`两` counts as 2, `〇`/`零` as 0).
pub fn digit_value(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c as u32 - '0' as u32,
        '０'..='９' => c as u32 - '０' as u32,
        '〇' | '零' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' | '貳' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn unit_value(c: char) -> Option<u64> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        '万' | '萬' => 10_000,
        _ => return None,
    })
}

/// Whether `c` can be part of a number (Arabic digit, Chinese digit or unit).
pub fn is_numeral_char(c: char) -> bool {
    digit_value(c).is_some() || unit_value(c).is_some()
}

/// Measure words that may follow a number in a count ("两次", "3所", "听课2节").
pub const MEASURE_WORDS: &[&str] = &[
    "校次", "课时", "人次", "次", "所", "节", "人", "个", "份", "场", "项", "条", "处", "名", "位", "家", "户", "天",
    "周", "回", "趟", "堂", "本", "册", "篇", "间", "起", "例",
];

/// Parses a whole string as a number: Arabic ("3", "１２"), Chinese ("三", "十一", "二十三",
/// "两", "一百零五", "二〇"), optionally followed by one measure word ("两次", "3次", "三所").
/// Returns `None` for anything else, including overflow and malformed numerals ("十十").
pub fn parse_chinese_number(s: &str) -> Option<u32> {
    let t = s.trim();
    let (n, used) = leading_number(t)?;
    let rest = t[used..].trim();
    if rest.is_empty() || MEASURE_WORDS.contains(&rest) {
        Some(n)
    } else {
        None
    }
}

/// The number at the start of `s` and its length in bytes, e.g. `"3节课"` → `(3, 1)`,
/// `"十一月"` → `(11, 6)`. Leading whitespace is not skipped. The byte length always ends on a
/// char boundary, so `&s[len..]` is safe.
pub fn leading_number(s: &str) -> Option<(u32, usize)> {
    let mut end = 0;
    let mut ascii_only = true;
    for (i, c) in s.char_indices() {
        let is_digit_char = c.is_ascii_digit() || ('０'..='９').contains(&c);
        if is_numeral_char(c) {
            if !is_digit_char {
                ascii_only = false;
            }
            end = i + c.len_utf8();
            // Reject absurdly long runs early: no count we care about has 20 numeral chars.
            if end > 80 {
                return None;
            }
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let run = &s[..end];
    // A mixed run like "3十" is not a number we understand; an all-Arabic run must stay Arabic,
    // and a Chinese run must not contain Arabic digits.
    let value = if ascii_only {
        parse_digits(run)?
    } else if run.chars().any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c)) {
        return None;
    } else {
        parse_chinese_run(run)?
    };
    Some((value, end))
}

fn parse_digits(run: &str) -> Option<u32> {
    let mut v: u32 = 0;
    for c in run.chars() {
        v = v.checked_mul(10)?.checked_add(digit_value(c)?)?;
    }
    Some(v)
}

/// Chinese numerals: either positional digits ("二〇二六", "一二") or digit-unit form
/// ("二十三", "一百零五", "十一", "三万五千").
fn parse_chinese_run(run: &str) -> Option<u32> {
    if run.chars().all(|c| unit_value(c).is_none()) {
        // Positional form, as in years: "二〇二六".
        let mut v: u64 = 0;
        for c in run.chars() {
            v = v.checked_mul(10)?.checked_add(u64::from(digit_value(c)?))?;
            if v > u64::from(u32::MAX) {
                return None;
            }
        }
        return u32::try_from(v).ok();
    }
    let mut total: u64 = 0; // completed 万 groups
    let mut section: u64 = 0; // value below 万
    let mut pending: Option<u64> = None; // digit waiting for its unit
    let mut last_unit: u64 = u64::MAX; // units inside a section must decrease ("十十" is invalid)
    for c in run.chars() {
        if let Some(d) = digit_value(c) {
            if pending.is_some() {
                // Two digits in a row inside a unit numeral ("二三十"): not a number.
                return None;
            }
            pending = Some(u64::from(d));
        } else if let Some(u) = unit_value(c) {
            if u == 10_000 {
                let group = section + pending.take().unwrap_or(0);
                total =
                    if group == 0 && total == 0 { 10_000 } else { total.checked_add(group)?.checked_mul(10_000)? };
                section = 0;
                last_unit = u64::MAX;
            } else {
                if u >= last_unit {
                    return None;
                }
                // A bare unit means one of it: "十一" = 11, "百" = 100.
                let d = pending.take().unwrap_or(1);
                section += d * u;
                last_unit = u;
            }
        }
        // '零'/'〇' between units are digits with value 0: "一百零五" → pending 0 then 5 → we
        // handle that by letting a zero digit be replaced.
        if pending == Some(0) {
            pending = None;
        }
    }
    let v = total.checked_add(section)?.checked_add(pending.unwrap_or(0))?;
    if v > u64::from(u32::MAX) {
        None
    } else {
        Some(v as u32)
    }
}

/// Strips one list marker (and surrounding whitespace) from the start of a line:
/// `1.` `1、` `1)` `1）` `(1)` `（一）` `一、` `一.` `①` `⑴` `⒈` `❶` `- ` `• ` `· ` `* ` `● `
/// `■ ` `◆ ` `> `, and leading emoji used as bullets (`👉`, `✅`, `📌`).
/// A number that is part of the content ("1.5小时", "11月20日", "3所学校") is not a marker.
pub fn strip_list_marker(line: &str) -> &str {
    let s = line.trim_start();
    let rest = strip_marker_once(s);
    rest.trim_start()
}

fn strip_marker_once(s: &str) -> &str {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return s;
    };
    let after_first = &s[first.len_utf8()..];

    // Circled / parenthesised / full-stop numbers are always markers.
    if matches!(first,
        '\u{2460}'..='\u{249B}' // ①..⑳ ⑴..⒇ ⒈..⒛
        | '\u{2776}'..='\u{2793}' // ❶..➓
        | '\u{3251}'..='\u{325F}' // ㉑..㉟
        | '\u{32B1}'..='\u{32BF}')
    {
        return after_first;
    }

    // Bullets. '-' and '*' only when followed by a space or a non-digit (so "-3" stays).
    if matches!(
        first,
        '•' | '·'
            | '●'
            | '○'
            | '■'
            | '□'
            | '◆'
            | '◇'
            | '▪'
            | '▫'
            | '►'
            | '▶'
            | '➢'
            | '➤'
            | '→'
            | '√'
            | '※'
            | '★'
            | '☆'
            | '>'
    ) {
        return after_first;
    }
    if matches!(first, '-' | '*' | '+') {
        match after_first.chars().next() {
            Some(c) if c.is_ascii_digit() => return s,
            Some('-') => return s, // "--" or "---" separators are content, not bullets
            _ => return after_first,
        }
    }
    if is_emoji(first) {
        // Emoji bullets, possibly with a variation selector: "✅ ", "👉", "📌".
        let mut rest = after_first;
        while let Some(c) = rest.chars().next() {
            if c == '\u{FE0F}' || is_emoji(c) {
                rest = &rest[c.len_utf8()..];
            } else {
                break;
            }
        }
        return rest;
    }

    // "(1)" "（一）" "[1]": an opening bracket, a short number, a closing bracket.
    if matches!(first, '(' | '（' | '[') {
        let close = match first {
            '(' | '（' => [')', '）'],
            _ => [']', ']'],
        };
        if let Some((_, used)) = leading_number(after_first) {
            let rest = &after_first[used..];
            if let Some(c) = rest.chars().next() {
                if close.contains(&c) {
                    return &rest[c.len_utf8()..];
                }
            }
        }
        return s;
    }

    // "1." "1、" "1)" "一、" "十二." "1:"? (colon excluded: "8:30" is a time).
    if let Some((_, used)) = leading_number(s) {
        let rest = &s[used..];
        let mut rc = rest.chars();
        match rc.next() {
            Some(c @ ('、' | ')' | '）' | '，')) => {
                // "一，" is rare but "1，" appears in quick typing; both are markers.
                return &rest[c.len_utf8()..];
            }
            Some('.') | Some('。') => {
                // "1.5小时" is a decimal, not a marker.
                match rc.next() {
                    Some(d) if d.is_ascii_digit() => return s,
                    _ => return &rest[rest.chars().next().map_or(0, char::len_utf8)..],
                }
            }
            _ => return s,
        }
    }
    s
}

/// Rough emoji test: the pictograph blocks and the dingbat/misc-symbol blocks phones insert.
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// Whether a char is a CJK ideograph (the common blocks).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Punctuation that ends a clause in Chinese chat text.
pub fn is_clause_break(c: char) -> bool {
    matches!(c, '，' | ',' | '；' | ';' | '。' | '！' | '!' | '？' | '?' | '\n')
}

/// Punctuation that ends a sentence (a clause break weaker than this is `，` or `,`).
pub fn is_sentence_break(c: char) -> bool {
    matches!(c, '；' | ';' | '。' | '！' | '!' | '？' | '?' | '\n')
}

/// Trims whitespace and the clause punctuation people leave at the ends of an item.
pub fn trim_item(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '，' | ',' | '；' | ';' | '、' | ':' | '。' | '.'))
}

/// Truncates to at most `max_chars` characters (at a char boundary), adding "…" when cut.
pub fn truncate_chars(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Whether a short answer means "nothing / none" ("无", "没有", "暂无", "无。", "/").
pub fn is_none_answer(s: &str) -> bool {
    let t = s.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '。' | '.' | '，' | ',' | '！' | '!' | '~' | '；' | ';') || is_emoji(c)
    });
    matches!(
        t,
        "无" | "没有"
            | "暂无"
            | "无无"
            | "没"
            | "/"
            | "-"
            | "—"
            | "——"
            | "无。"
            | "none"
            | "None"
            | "NONE"
            | "无问题"
            | "没有问题"
            | "暂无问题"
            | "无明显问题"
            | "未发现问题"
            | "没有发现问题"
            | "未发现明显问题"
            | "暂未发现问题"
            | "未发现"
            | "无异常"
            | "一切正常"
            | "正常"
    )
}

/// The number of a numbered list marker at the start of `s` ("3." "3、" "(3)" "（三）" "三、" "③")
/// and the marker's length in bytes. Bullets ("-", "•") have no number and give `None`.
pub fn marker_number(s: &str) -> Option<(u32, usize)> {
    let first = s.chars().next()?;
    if let Some(n) = circled_number(first) {
        return Some((n, first.len_utf8()));
    }
    if matches!(first, '(' | '（') {
        let inner = &s[first.len_utf8()..];
        let (n, used) = leading_number(inner)?;
        let close = inner[used..].chars().next()?;
        return matches!(close, ')' | '）').then(|| (n, first.len_utf8() + used + close.len_utf8()));
    }
    let (n, used) = leading_number(s)?;
    let mut rest = s[used..].chars();
    match rest.next()? {
        c @ ('、' | ')' | '）') => Some((n, used + c.len_utf8())),
        c @ ('.' | '。') => match rest.next() {
            Some(d) if d.is_ascii_digit() => None,
            _ => Some((n, used + c.len_utf8())),
        },
        _ => None,
    }
}

/// ①–⑳, ⑴–⒇, ⒈–⒛, ❶–❿, ➀–➓ as numbers.
pub fn circled_number(c: char) -> Option<u32> {
    let u = c as u32;
    match u {
        0x2460..=0x2473 => Some(u - 0x2460 + 1),
        0x2474..=0x2487 => Some(u - 0x2474 + 1),
        0x2488..=0x249B => Some(u - 0x2488 + 1),
        0x2776..=0x277F => Some(u - 0x2776 + 1),
        0x2780..=0x2789 => Some(u - 0x2780 + 1),
        0x278A..=0x2793 => Some(u - 0x278A + 1),
        _ => None,
    }
}

/// Splits a block of listed items into one string per item, keeping each item's text:
/// - one item per line, or per numbered marker when several share a line ("1.甲 2.乙", "①甲②乙");
///   inline markers must count up (1, 2, 3 …) so "3、4年级" is not split;
/// - without markers, `；`/`;` also separate items;
/// - when the block is numbered, an unnumbered line continues the item above it (wrapped text),
///   and an unnumbered intro line ending in a colon ("主要有以下问题：") is dropped;
/// - list markers and trailing separators are removed; empty and emoji-only items are dropped.
pub fn split_items(text: &str) -> Vec<String> {
    // (numbered, text)
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut starts = vec![0usize];
        let mut last_no = marker_number(line).map(|(n, _)| n);
        for (i, c) in line.char_indices().skip(1) {
            let prev = line[..i].chars().next_back().unwrap_or(' ');
            let after_sep = prev.is_whitespace() || matches!(prev, '；' | ';' | '。' | '，' | ',');
            if !(after_sep || circled_number(c).is_some()) {
                continue;
            }
            if let Some((n, _)) = marker_number(&line[i..]) {
                if last_no.is_none_or(|l| n == l + 1) {
                    starts.push(i);
                    last_no = Some(n);
                }
            }
        }
        let numbered_line = starts.len() > 1 || last_no.is_some();
        for (k, &st) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(line.len());
            let seg = &line[st..end];
            let stripped = strip_list_marker(seg);
            let marked = stripped.len() != seg.trim_start().len();
            if numbered_line || marked {
                pieces.push((marked, stripped));
            } else {
                // No markers on this line: semicolons separate items.
                for part in stripped.split(['；', ';']) {
                    pieces.push((false, part));
                }
            }
        }
    }
    let any_marked = pieces.iter().any(|(m, _)| *m);
    let mut items: Vec<String> = Vec::new();
    let mut last_was_marked = false;
    // A short unnumbered heading such as "白沙镇中心小学：" groups the numbered items below it;
    // each of them keeps it as a prefix, so an item still says which school it is about.
    let mut heading: Option<&str> = None;
    for (marked, p) in pieces {
        let p = p.trim();
        if p.is_empty() || p.chars().all(|c| is_emoji(c) || c == '\u{FE0F}' || c.is_whitespace()) {
            continue;
        }
        if any_marked && !marked {
            if let Some(h) = p.strip_suffix(':').or_else(|| p.strip_suffix('：')) {
                let intro = ["问题", "以下", "如下", "主要", "方面", "情况"].iter().any(|w| h.contains(w));
                heading = (!intro && h.chars().count() <= 16).then_some(h.trim());
                last_was_marked = false;
                continue;
            }
            if last_was_marked {
                if let Some(last) = items.last_mut() {
                    last.push_str(p);
                    continue;
                }
            }
        }
        last_was_marked = marked || (last_was_marked && any_marked);
        match heading {
            Some(h) if marked => items.push(format!("{h}：{p}")),
            _ => items.push(p.to_string()),
        }
    }
    items.into_iter().map(|s| cjk_colons(trim_item(&s))).filter(|s| !s.is_empty()).collect()
}

/// Puts back the full-width colon that [`normalize`] folded, where it sits in Chinese text
/// ("食堂:留样不足" → "食堂：留样不足"), so items read as written. "8:30" stays.
pub fn cjk_colons(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c == ':' && prev.is_some_and(is_cjk) {
            out.push('：');
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// Result of [`split_labelled`]: the unlabelled text, then each labelled part in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled<T> {
    /// Text outside any part: before the first label, and after the first sentence of a
    /// mid-line label (see [`split_labelled`]). Pieces are joined with newlines.
    pub free: String,
    pub parts: Vec<(T, String)>,
}

/// Splits template-style text into labelled parts. `labels` maps label text to a value; the
/// longest label wins. A label is recognised:
/// - at a line start, after an optional list marker ("一、", "1.", "（一）", "①", "- "), or inside
///   `【】`/`[]` brackets anywhere: `【发现问题】食堂…`;
/// - followed by a colon (`：` or `:`), or by the end of the line, or (labels of 3+ chars at a
///   line start) by a space; an optional short parenthetical may sit between label and colon,
///   "督导学校（3所）：…", and is kept as the start of the content;
/// - mid-line, after a space or `；。，` ("…听课 2.发现问题:…"), only when followed by a colon; and a
///   label of 3+ chars followed by a colon is recognised anywhere ("实验小学督导方式:听课").
///
/// A part runs to the next label, except that a label found mid-line owns only the rest of its
/// sentence (up to `。！？` or the line end): in chat, "…听课2节。亮点：作业设计有特色。发现…" puts
/// a label in the middle of prose, and the prose after it is free text again.
///
/// `text` should be normalised first. Content is trimmed; a label seen twice gives two parts.
pub fn split_labelled<T: Copy>(text: &str, labels: &[(&str, T)]) -> Labelled<T> {
    // (start of the label incl. marker, start of content, value, parenthetical, mid-line)
    let mut hits: Vec<(usize, usize, T, String, bool)> = Vec::new();
    let mut line_off = 0usize;
    for line in text.split('\n') {
        let mut skip_to = 0usize;
        for (i, _) in line.char_indices() {
            if i < skip_to {
                continue;
            }
            let prev = line[..i].chars().next_back();
            let sep = match prev {
                None => true,
                Some(c) => {
                    c.is_whitespace()
                        || matches!(c, '；' | ';' | '。' | '，' | ',' | '、' | ')' | '）' | '】')
                        || is_emoji(c)
                }
            };
            if let Some((content, value, extra)) = try_label(line, i, i == 0, sep, labels) {
                let mid_line = !line[..i].trim().is_empty();
                hits.push((line_off + i, line_off + content, value, extra, mid_line));
                skip_to = content;
            }
        }
        line_off += line.len() + 1;
    }
    let mut free: Vec<&str> = Vec::new();
    free.push(text.get(..hits.first().map_or(text.len(), |h| h.0)).unwrap_or(""));
    let mut parts = Vec::with_capacity(hits.len());
    for (k, (_, content, value, extra, mid_line)) in hits.iter().enumerate() {
        let next = hits.get(k + 1).map_or(text.len(), |h| h.0).max(*content);
        let mut end = next;
        if *mid_line {
            let body = text.get(*content..next).unwrap_or("");
            if let Some((i, c)) = body.char_indices().find(|(_, c)| matches!(c, '。' | '！' | '？' | '!' | '?' | '\n'))
            {
                end = content + i + c.len_utf8();
                free.push(text.get(end..next).unwrap_or(""));
            }
        }
        let body = text.get(*content..end).unwrap_or("").trim();
        let body = if extra.is_empty() { body.to_string() } else { format!("{extra} {body}").trim().to_string() };
        parts.push((*value, body));
    }
    let free: Vec<&str> = free.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect();
    Labelled { free: free.join("\n"), parts }
}

/// Byte offset of `inner` inside `outer` (`inner` must be a subslice of `outer`).
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize).min(outer.len())
}

fn try_label<T: Copy>(
    line: &str,
    i: usize,
    at_start: bool,
    sep: bool,
    labels: &[(&str, T)],
) -> Option<(usize, T, String)> {
    let raw = &line[i..];
    let s = if at_start || sep { strip_list_marker(raw) } else { raw };
    let (s, close) = match s.chars().next() {
        Some(c @ '【') => (&s[c.len_utf8()..], Some('】')),
        Some(c @ '〖') => (&s[c.len_utf8()..], Some('〗')),
        Some('[') => (&s[1..], Some(']')),
        _ => (s, None),
    };
    let (label, value) = labels
        .iter()
        .filter(|(l, _)| !l.is_empty() && s.starts_with(l))
        .max_by_key(|(l, _)| l.len())
        .map(|(l, v)| (*l, *v))?;
    let short = label.chars().count() <= 2;
    let mut after = &s[label.len()..];
    if let Some(close) = close {
        after = after.strip_prefix(close)?;
        let t = after.trim_start();
        let t = t.strip_prefix([':', '：']).unwrap_or(t);
        return Some((offset_in(line, t), value, String::new()));
    }
    if short && !(at_start || sep) {
        return None;
    }
    let mut extra = String::new();
    if let Some(inner) = after.strip_prefix(['(', '（']) {
        if let Some((end, c)) = inner.char_indices().find(|(_, c)| matches!(c, ')' | '）')) {
            if inner[..end].chars().count() <= 12 {
                extra = inner[..end].trim().to_string();
                after = &inner[end + c.len_utf8()..];
            }
        }
    }
    let trimmed = after.trim_start();
    if let Some(content) = trimmed.strip_prefix([':', '：']) {
        return Some((offset_in(line, content), value, extra));
    }
    if at_start && trimmed.is_empty() {
        return Some((line.len(), value, extra));
    }
    if at_start && !short && label.chars().count() >= 3 && after.starts_with(char::is_whitespace) {
        return Some((offset_in(line, trimmed), value, extra));
    }
    None
}

/// Splits free text into clauses (at `，。；！？` and line breaks) and classifies each with the
/// first rule (in priority order) whose keyword it contains. A clause without a keyword
/// continues the class of the clause before it in the same sentence ("发现食堂留样不全，晨检
/// 记录也未填写" is one problem). Consecutive clauses of one class in a sentence are joined
/// with "，". Returns (class, text) pieces in order; `None` = unclassified.
pub fn classify_clauses<T: Copy + PartialEq>(text: &str, rules: &[(T, &[&str])]) -> Vec<(Option<T>, String)> {
    let mut out: Vec<(Option<T>, String)> = Vec::new();
    for sentence in text.split(is_sentence_break) {
        let mut prev: Option<T> = None;
        let mut current: Option<(Option<T>, String)> = None;
        for clause in sentence.split(['，', ',']) {
            let c = trim_item(strip_list_marker(clause));
            if c.is_empty() {
                continue;
            }
            let class = rules.iter().find(|(_, kws)| kws.iter().any(|k| c.contains(k))).map(|(t, _)| *t).or(prev);
            prev = class;
            match &mut current {
                Some((cls, buf)) if *cls == class => {
                    buf.push('，');
                    buf.push_str(c);
                }
                _ => {
                    if let Some(done) = current.take() {
                        out.push(done);
                    }
                    current = Some((class, c.to_string()));
                }
            }
        }
        if let Some(done) = current.take() {
            out.push(done);
        }
    }
    out
}

/// Whether `text` contains `kw` at a position not negated by 无/未/没/不/非 just before it
/// ("无严重问题" does not contain an unnegated "严重").
pub fn contains_unnegated(text: &str, kw: &str) -> bool {
    text.match_indices(kw).any(|(i, _)| {
        let before: Vec<char> = text[..i].chars().rev().take(2).collect();
        !before.iter().any(|c| matches!(c, '无' | '未' | '没' | '不' | '非' | '免'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_suggests_only_clear_near_misses() {
        let names = ["清河县实验小学", "清河县第二小学", "清河县第三小学", "柳林镇中心小学"];
        assert_eq!(closest_name("清河县实验小校", &names), Some("清河县实验小学"));
        assert_eq!(closest_name("清河县实验　小学", &names), Some("清河县实验小学"));
        // Equally close to two schools: no guess.
        assert_eq!(closest_name("清河县第四小学", &names), None);
        // Too far, or too short to judge.
        assert_eq!(closest_name("城东中学", &names), None);
        assert_eq!(closest_name("一小", &["二小"]), None);
        assert_eq!(closest_name("", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn normalize_key_folds_width_spaces_and_case() {
        assert_eq!(normalize_key("王　芳"), "王芳");
        assert_eq!(normalize_key(" 王 芳\u{200b}"), "王芳");
        assert_eq!(normalize_key("ＱＨ３"), "qh3");
        assert_eq!(normalize_key("qh3"), normalize_key("QH3"));
        assert_eq!(normalize_key("清河县第２中学"), "清河县第2中学");
        // Chinese punctuation inside names is kept apart from its ASCII look-alike only where
        // NFKC keeps it: the middle dot of minority names stays.
        assert_eq!(normalize_key("阿依古丽·买买提"), "阿依古丽·买买提");
        assert_eq!(normalize_key(""), "");
    }

    #[test]
    fn normalize_width_and_lines() {
        assert_eq!(normalize("本周督导学校：实验小学\r\n督导方式：听课"), "本周督导学校:实验小学\n督导方式:听课");
        assert_eq!(normalize("ＡＢＣ１２３（一）"), "ABC123(一)");
        assert_eq!(normalize("a\u{3000}b\u{200B}c\u{FEFF}"), "a bc");
        // Chinese sentence punctuation stays.
        assert_eq!(normalize("食堂、宿舍，问题；好！吗？。"), "食堂、宿舍，问题；好！吗？。");
        assert_eq!(normalize("a\rb\0c"), "a\nb c");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn chinese_numbers() {
        let cases = [
            ("一", Some(1)),
            ("两", Some(2)),
            ("十", Some(10)),
            ("十一", Some(11)),
            ("二十", Some(20)),
            ("二十三", Some(23)),
            ("一百零五", Some(105)),
            ("百", Some(100)),
            ("三百二十", Some(320)),
            ("〇", Some(0)),
            ("零", Some(0)),
            ("二〇二六", Some(2026)),
            ("3", Some(3)),
            ("１２", Some(12)),
            ("两次", Some(2)),
            ("3次", Some(3)),
            ("三次", Some(3)),
            ("三所", Some(3)),
            (" 5 ", Some(5)),
            ("一万二千", Some(12_000)),
            ("十十", None),
            ("二三十", None),
            ("3十", None),
            ("abc", None),
            ("", None),
            ("三年级", None),
            ("99999999999999", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_chinese_number(s), want, "{s}");
        }
    }

    #[test]
    fn leading_numbers() {
        assert_eq!(leading_number("3节课"), Some((3, 1)));
        assert_eq!(leading_number("十一月"), Some((11, 6)));
        assert_eq!(leading_number("节"), None);
    }

    #[test]
    fn list_markers() {
        let cases = [
            ("1.实验小学", "实验小学"),
            ("1. 实验小学", "实验小学"),
            ("1、实验小学", "实验小学"),
            ("12、实验小学", "实验小学"),
            ("（一）本周督导学校", "本周督导学校"),
            ("(1)听课", "听课"),
            ("（2）听课", "听课"),
            ("一、本周督导学校", "本周督导学校"),
            ("十二、其他", "其他"),
            ("①食堂", "食堂"),
            ("⑵食堂", "食堂"),
            ("- 食堂", "食堂"),
            ("• 食堂", "食堂"),
            ("  3）食堂", "食堂"),
            ("👉 实验小学", "实验小学"),
            ("✅️实验小学", "实验小学"),
            ("1.5小时", "1.5小时"),
            ("11月20日", "11月20日"),
            ("3所学校", "3所学校"),
            ("-3度", "-3度"),
            ("---", "---"),
            ("", ""),
            ("食堂", "食堂"),
            ("(注)", "(注)"),
        ];
        for (s, want) in cases {
            assert_eq!(strip_list_marker(s), want, "{s}");
        }
    }

    #[test]
    fn items_numbered_and_wrapped() {
        let t = "存在以下问题：\n1. 食堂留样记录不全，\n部分菜品未留样；\n2、消防通道堵塞\n③ 作业量偏大";
        assert_eq!(split_items(t), vec!["食堂留样记录不全，部分菜品未留样", "消防通道堵塞", "作业量偏大"]);
        assert_eq!(
            split_items("1.食堂不规范 2.消防通道堵塞 3.作业多，涉及 3、4年级"),
            vec!["食堂不规范", "消防通道堵塞", "作业多，涉及 3、4年级"]
        );
        assert_eq!(split_items("①食堂②宿舍"), vec!["食堂", "宿舍"]);
        assert_eq!(split_items("食堂留样不全；消防通道堵塞"), vec!["食堂留样不全", "消防通道堵塞"]);
        assert_eq!(split_items("（一）食堂\n（二）宿舍"), vec!["食堂", "宿舍"]);
        assert!(split_items("\n \n👍").is_empty());
        // School headings group the numbered items below them.
        let t = "实验小学:\n1、作业公示不及时\n2、签到表缺失\n白沙镇中心小学:\n1、宿舍消防器材过期";
        assert_eq!(
            split_items(t),
            vec!["实验小学：作业公示不及时", "实验小学：签到表缺失", "白沙镇中心小学：宿舍消防器材过期"]
        );
        assert_eq!(split_items("①食堂:留样不足 ②8:30前未开门"), vec!["食堂：留样不足", "8:30前未开门"]);
    }

    #[test]
    fn labelled_parts() {
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum L {
            A,
            B,
        }
        let labels = [("本周督导学校", L::A), ("发现问题", L::B), ("问题", L::B)];
        let r = split_labelled("张三周报\n一、本周督导学校：实验小学\n【发现问题】食堂\n问题:宿舍", &labels);
        assert_eq!(r.free, "张三周报");
        assert_eq!(r.parts, vec![(L::A, "实验小学".into()), (L::B, "食堂".into()), (L::B, "宿舍".into())]);
        let r = split_labelled("本周督导学校(3所):实验小学；发现问题:无", &labels);
        assert_eq!(r.parts, vec![(L::A, "3所 实验小学；".into()), (L::B, "无".into())]);
        // A mid-line label owns the rest of its sentence only.
        let r = split_labelled("走访实验小学。发现问题:食堂不规范。宿舍也乱。", &labels);
        assert_eq!(r.parts, vec![(L::B, "食堂不规范。".into())]);
        assert_eq!(r.free, "走访实验小学。\n宿舍也乱。");
        // Not labels: no delimiter after a label word.
        let r = split_labelled("发现问题较多，问题很大", &labels);
        assert!(r.parts.is_empty());
        assert_eq!(r.free, "发现问题较多，问题很大");
    }

    #[test]
    fn clause_classes() {
        let rules: &[(u8, &[&str])] = &[(1, &["下周"]), (2, &["发现", "缺"])];
        let c = classify_clauses("走访实验小学，发现食堂不规范，晨检记录也未填写。下周回访", rules);
        assert_eq!(
            c,
            vec![
                (None, "走访实验小学".into()),
                (Some(2), "发现食堂不规范，晨检记录也未填写".into()),
                (Some(1), "下周回访".into())
            ]
        );
    }

    #[test]
    fn negation() {
        assert!(!contains_unnegated("无严重问题", "严重"));
        assert!(contains_unnegated("问题严重", "严重"));
    }

    #[test]
    fn none_answers() {
        assert!(is_none_answer("无"));
        assert!(is_none_answer(" 无。"));
        assert!(is_none_answer("未发现问题👍"));
        assert!(!is_none_answer("无人值守"));
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate_chars("实验小学", 2), "实验…");
        assert_eq!(truncate_chars("实验", 2), "实验");
    }
}
