//! Roster import and export: the persistence is `store::roster`; this module adds the review
//! text printed by `roster import`.

pub use crate::store::roster::*;

/// Most names listed per category in the printed diff; the count is always complete.
const MAX_LISTED: usize = 50;

fn list_names<'a>(items: impl Iterator<Item = String> + 'a, total: usize) -> String {
    let shown: Vec<String> = items.take(MAX_LISTED).collect();
    let mut s = shown.join("、");
    if total > shown.len() {
        s.push_str(&format!(" …等 {total} 项"));
    }
    s
}

fn named(n: &Named) -> String {
    format!("{}{}（{}）", n.kind, n.name, n.code)
}

/// The review text printed by `roster import` (with and without `--check`).
pub fn render_summary(sum: &ImportSummary) -> String {
    let d = &sum.diff;
    let mut out = Vec::new();
    out.push(if sum.dry_run {
        "预检结果（未写入任何数据）：".to_string()
    } else {
        "已导入，变更如下：".to_string()
    });
    if sum.sample_people_removed > 0 {
        out.push(format!(
            "  移除示例县数据：{} 名示例人员及其学校、责任区、聊天账号、群登记、绑定码和待发消息",
            sum.sample_people_removed
        ));
    }
    let line = |label: &str, n: usize, names: String| {
        if n == 0 {
            format!("  {label}：0")
        } else {
            format!("  {label}：{n}（{names}）")
        }
    };
    out.push(line("新增", d.added.len(), list_names(d.added.iter().map(named), d.added.len())));
    out.push(line(
        "变更",
        d.changed.len(),
        list_names(d.changed.iter().map(|c| format!("{}：{}", named(&c.what), c.fields.join("、"))), d.changed.len()),
    ));
    out.push(line("停用", d.deactivated.len(), list_names(d.deactivated.iter().map(named), d.deactivated.len())));
    out.push(line(
        "解除绑定的聊天账号",
        d.accounts_unbound.len(),
        list_names(
            d.accounts_unbound.iter().map(|u| format!("{} {}（{}）", u.platform, u.account, u.person.name)),
            d.accounts_unbound.len(),
        ),
    ));
    out.push(line(
        "撤销的责任区",
        d.zones_retired.len(),
        list_names(d.zones_retired.iter().map(named), d.zones_retired.len()),
    ));
    out.push(format!(
        "  合计：责任区 {}，学校 {}，人员 {}，挂牌关系 {}，聊天账号 {}",
        sum.zones, sum.schools, sum.people, sum.assignments, sum.accounts
    ));
    if sum.needs_allow_deactivate {
        out.push(format!(
            "  注意：将停用 {} 名在册人员（共 {} 名），超过 [roster] max_deactivate_share；正式导入须加 --allow-deactivate。",
            sum.people_deactivated, sum.active_people_before
        ));
    }
    out.join("\n")
}
