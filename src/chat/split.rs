//! Splits a long message into parts that fit a channel's length limit, breaking between lines
//! where possible and never inside a mention.

use super::model::Segment;

fn seg_len(s: &Segment) -> usize {
    match s {
        Segment::Text { text } => text.chars().count(),
        Segment::Mention { name, .. } => name.chars().count() + 2,
        Segment::MentionAll => 6,
        Segment::Reply { .. } => 0,
        Segment::Image { .. } | Segment::File { .. } => 4,
    }
}

/// Groups segments into lines; a line ends after a text segment's '\n'.
fn lines(segments: &[Segment]) -> Vec<Vec<Segment>> {
    let mut out: Vec<Vec<Segment>> = Vec::new();
    let mut cur: Vec<Segment> = Vec::new();
    for s in segments {
        match s {
            Segment::Text { text } => {
                let mut rest = text.as_str();
                while let Some(pos) = rest.find('\n') {
                    let (line, tail) = rest.split_at(pos + 1);
                    cur.push(Segment::text(line));
                    out.push(std::mem::take(&mut cur));
                    rest = tail;
                }
                if !rest.is_empty() {
                    cur.push(Segment::text(rest));
                }
            }
            other => cur.push(other.clone()),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Where a line may break when it must: after list separators and spaces.
const BREAKS: &[char] = &['、', '，', '；', '。', ',', ';', ' ', '　', '）', ')'];

/// Hard-splits one over-long line: at segment boundaries, and inside text only when a single
/// text run is itself too long.
fn split_line(line: Vec<Segment>, max: usize) -> Vec<Vec<Segment>> {
    let mut parts = Vec::new();
    let mut cur: Vec<Segment> = Vec::new();
    let mut len = 0;
    for seg in line {
        let l = seg_len(&seg);
        if len + l <= max {
            len += l;
            cur.push(seg);
            continue;
        }
        match seg {
            Segment::Text { text } => {
                // Break after a list separator when one is near the end of the part, so a long
                // list of names is not cut inside a name.
                let mut chunk: Vec<char> = Vec::new();
                for ch in text.chars() {
                    if len + 1 > max {
                        let reach = (max / 4).min(chunk.len());
                        let cut = chunk[chunk.len() - reach..]
                            .iter()
                            .rposition(|c| BREAKS.contains(c))
                            .map_or(chunk.len(), |i| chunk.len() - reach + i + 1);
                        let carry = chunk.split_off(cut);
                        if !chunk.is_empty() {
                            cur.push(Segment::text(chunk.iter().collect::<String>()));
                        }
                        parts.push(std::mem::take(&mut cur));
                        len = carry.len();
                        chunk = carry;
                    }
                    chunk.push(ch);
                    len += 1;
                }
                if !chunk.is_empty() {
                    cur.push(Segment::text(chunk.iter().collect::<String>()));
                }
            }
            other => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                len = l;
                cur.push(other);
            }
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

/// Merges adjacent text segments so adapters see tidy output.
fn tidy(parts: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(parts.len());
    for s in parts {
        if let (Some(Segment::Text { text: prev }), Segment::Text { text }) = (out.last_mut(), &s) {
            prev.push_str(text);
            continue;
        }
        out.push(s);
    }
    // A part should not end in a dangling newline.
    if let Some(Segment::Text { text }) = out.last_mut() {
        while text.ends_with('\n') {
            text.pop();
        }
        if text.is_empty() {
            out.pop();
        }
    }
    out
}

/// Splits `segments` into parts of at most `max_chars` characters each. A quoted-reply
/// segment stays with the first part only.
pub fn split_message(segments: &[Segment], max_chars: usize) -> Vec<Vec<Segment>> {
    let max = max_chars.max(16);
    let reply: Vec<Segment> = segments.iter().filter(|s| matches!(s, Segment::Reply { .. })).cloned().collect();
    let body: Vec<Segment> = segments.iter().filter(|s| !matches!(s, Segment::Reply { .. })).cloned().collect();
    let total: usize = body.iter().map(seg_len).sum();
    if total <= max {
        return vec![segments.to_vec()];
    }
    let mut parts: Vec<Vec<Segment>> = Vec::new();
    let mut cur: Vec<Segment> = Vec::new();
    let mut len = 0;
    for line in lines(&body) {
        let l: usize = line.iter().map(seg_len).sum();
        if len + l <= max {
            len += l;
            cur.extend(line);
            continue;
        }
        if !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
            len = 0;
        }
        if l <= max {
            len = l;
            cur = line;
        } else {
            let mut pieces = split_line(line, max);
            if let Some(last) = pieces.pop() {
                parts.extend(pieces);
                len = last.iter().map(seg_len).sum();
                cur = last;
            }
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    let mut parts: Vec<Vec<Segment>> = parts.into_iter().map(tidy).filter(|p| !p.is_empty()).collect();
    if let Some(first) = parts.first_mut() {
        let mut with_reply = reply;
        with_reply.append(first);
        *first = with_reply;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::model::plain_text;

    fn total_len(p: &[Segment]) -> usize {
        p.iter().map(seg_len).sum()
    }

    #[test]
    fn long_list_breaks_between_names() {
        let names: Vec<String> = (0..200).map(|i| format!("城关第{i}小学")).collect();
        let m = vec![Segment::text(format!("尚未督导：{}", names.join("、")))];
        let parts = split_message(&m, 100);
        assert!(parts.len() > 1);
        let mut all = String::new();
        for p in &parts {
            assert!(total_len(p) <= 100);
            let t = plain_text(p);
            // Every part ends at a separator, except the last.
            all.push_str(&t);
        }
        assert_eq!(all, plain_text(&m));
        for p in &parts[..parts.len() - 1] {
            assert!(plain_text(p).ends_with('、'), "{}", plain_text(p));
        }
    }

    #[test]
    fn short_message_is_untouched() {
        let m = vec![Segment::text("你好")];
        assert_eq!(split_message(&m, 100), vec![m]);
    }

    #[test]
    fn splits_between_lines() {
        let text: String = (0..30).map(|i| format!("第{i}行：内容内容内容\n")).collect();
        let parts = split_message(&[Segment::text(text.clone())], 50);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(total_len(p) <= 50);
            // every part consists of whole lines
            let t = plain_text(p);
            for line in t.lines() {
                assert!(line.starts_with('第') && line.ends_with("内容"), "broken line: {line}");
            }
        }
        let joined: String = parts.iter().map(|p| plain_text(p) + "\n").collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn never_breaks_a_mention_and_keeps_reply_first() {
        let mut segs = vec![Segment::Reply { message_id: "9".into() }];
        for i in 0..20 {
            segs.push(Segment::Mention { user_id: i.to_string(), name: format!("督学{i}") });
        }
        let parts = split_message(&segs, 20);
        assert!(parts.len() > 1);
        assert!(matches!(parts[0][0], Segment::Reply { .. }));
        let mentions: usize = parts.iter().flatten().filter(|s| matches!(s, Segment::Mention { .. })).count();
        assert_eq!(mentions, 20);
        assert!(parts.iter().skip(1).all(|p| !p.iter().any(|s| matches!(s, Segment::Reply { .. }))));
    }

    #[test]
    fn a_single_huge_line_is_cut_by_characters() {
        let s = "测".repeat(1000);
        let parts = split_message(&[Segment::text(s)], 300);
        assert_eq!(parts.len(), 4);
        assert!(parts.iter().all(|p| total_len(p) <= 300));
    }
}
