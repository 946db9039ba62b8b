//! Long answers a page at a time: the first page now, the rest on `更多`.
//!
//! A province's 督导进度 or a county ledger can run to tens of thousands of characters — dozens
//! of chat messages, minutes of paced sending, and a chat nobody can scroll. An answer longer
//! than a page goes out as its first page with a footer saying how to see more; the remaining
//! pages wait in `reply_pages` (see `store::pages`) for the same account's `更多` in that chat.

use super::Ctx;
use crate::chat::split::split_message;
use crate::chat::{plain_text, Segment};

/// Characters of one page: about one QQ message. Answers up to `PAGE_CHARS + SLACK` go whole.
pub const PAGE_CHARS: usize = 1500;
const SLACK: usize = 200;

/// Characters of a reply as it reads (`@name` for a mention), without building the text: this
/// runs on every reply.
fn body_len(segments: &[Segment]) -> usize {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text { text } => text.chars().count(),
            Segment::Mention { name, .. } => name.chars().count() + 1,
            _ => 0,
        })
        .sum()
}

/// The footer of page `k` of `n`.
pub fn footer(k: usize, n: usize) -> String {
    if k < n {
        format!("\n（第{k}/{n}页，发送“更多”看下一页；完整数据可用“导出”获取表格）")
    } else {
        format!("\n（第{k}/{n}页，已是最后一页）")
    }
}

/// Splits over-long replies into pages: each such reply is replaced by its first page with a
/// footer. Returns the replies to send and every page's text (empty when nothing was paged);
/// the first entry is the page already sent, so `更多` starts at the second.
pub fn paginate(replies: Vec<Vec<Segment>>) -> (Vec<Vec<Segment>>, Vec<String>) {
    let mut out = Vec::with_capacity(replies.len());
    let mut pages: Vec<String> = Vec::new();
    // Replies cut to their first page; their footers name the page count, known only at the end.
    let mut paged: Vec<usize> = Vec::new();
    for reply in replies {
        if body_len(&reply) <= PAGE_CHARS + SLACK {
            out.push(reply);
            continue;
        }
        let mut parts = split_message(&reply, PAGE_CHARS).into_iter();
        let Some(first) = parts.next() else { continue };
        if pages.is_empty() {
            pages.push(plain_text(&first));
        }
        pages.extend(parts.map(|p| plain_text(&p)));
        paged.push(out.len());
        out.push(first);
    }
    let n = pages.len();
    for i in paged {
        out[i].push(Segment::text(footer(1, n)));
    }
    (out, pages)
}

/// `更多`: the next page of the sender's last long answer in this chat.
pub async fn more(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let chat = ctx.msg.chat.clone();
    match crate::store::pages::next(ctx.tx, &chat, &ctx.msg.sender.id, ctx.now).await? {
        Some((page, k, n)) => ctx.reply(format!("{page}{}", footer(k, n))),
        None => ctx.reply("没有更多内容了。"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_replies_pass_untouched() {
        let r = vec![vec![Segment::text("本月督导 3 次")]];
        let (out, pages) = paginate(r.clone());
        assert_eq!(out, r);
        assert!(pages.is_empty());
    }

    #[test]
    fn long_reply_becomes_first_page_and_the_rest_waits() {
        let lines: Vec<String> =
            (1..=300).map(|i| format!("· 第{i}督学责任区：督导 12/15 次，覆盖学校 9/20 所")).collect();
        let text = lines.join("\n");
        let total = text.chars().count();
        let (out, pages) = paginate(vec![vec![Segment::text(text.clone())]]);
        assert_eq!(out.len(), 1);
        let first = plain_text(&out[0]);
        let n = pages.len();
        assert!(n >= total / PAGE_CHARS, "{n} pages for {total} chars");
        assert!(first.ends_with(&footer(1, n)), "{first}");
        assert!(first.chars().count() <= PAGE_CHARS + SLACK);
        // The pages together are the whole answer, in order, cut only between lines.
        assert_eq!(pages.join("\n"), text);
        assert!(pages.iter().all(|p| p.starts_with("· ") && p.chars().count() <= PAGE_CHARS));
    }

    #[test]
    fn mention_stays_on_the_first_page() {
        let long = "一二三四五六七八九十\n".repeat(400);
        let reply = vec![
            Segment::Mention { user_id: "42".into(), name: "王督学".into() },
            Segment::text(" "),
            Segment::text(long),
        ];
        let (out, pages) = paginate(vec![reply]);
        assert!(matches!(out[0][0], Segment::Mention { .. }));
        assert!(pages.len() > 1);
        assert!(pages[1..].iter().all(|p| !p.contains('@')));
    }
}
