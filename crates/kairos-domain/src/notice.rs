//! What Kairos tells people, in their language: notification texts and the titles of the
//! tasks the rules make. Each is kept as its facts until the recipient is known, then
//! written in the recipient's language (their own, else the workspace's). Times are shown
//! in China time, as the interface shows them.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use crate::identity::Locale;

/// A notification's facts; `kind()` is the notification kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    TaskAssigned { by: String, title: String },
    LeadAssigned,
    LeadHandedOver,
    LeadsAssigned { count: usize },
    DealStale { number: String, name: String, idle_days: f64 },
    DealDwell { number: String, name: String, stage: String, days: f64, limit: f64 },
    TaskOverdue { title: String, due: DateTime<Utc> },
    SupportAsked { by: String, team: String, number: String, name: String, what: String, answer_by: DateTime<Utc> },
    /// `verb`: accepted, rejected, done or cancelled.
    SupportAnswered { by: String, verb: String, team: String, number: String, name: String, reason: Option<String> },
    SupportUnanswered { team: String, what: String, answer_by: DateTime<Utc> },
    /// A deal became a priority deal: its director is asked to meet the customer by `by`.
    PriorityMeeting { number: String, name: String, by: NaiveDate },
}

fn china(t: DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset")).format("%Y-%m-%d %H:%M").to_string()
}

fn team_zh(team: &str) -> &str {
    match team {
        "presales" => "售前",
        "customer_success" => "客户成功",
        "finance" => "财务",
        "legal" => "法务",
        other => other,
    }
}

fn team_en(team: &str) -> String {
    team.replace('_', " ")
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::TaskAssigned { .. } => "task_assigned",
            Notice::LeadAssigned | Notice::LeadHandedOver => "lead_assigned",
            Notice::LeadsAssigned { .. } => "leads_assigned",
            Notice::DealStale { .. } => "deal_stale",
            Notice::DealDwell { .. } => "deal_dwell",
            Notice::TaskOverdue { .. } => "task_overdue",
            Notice::SupportAsked { .. } | Notice::SupportAnswered { .. } | Notice::SupportUnanswered { .. } => "support_request",
            Notice::PriorityMeeting { .. } => "priority_deal",
        }
    }

    pub fn text(&self, locale: Locale) -> String {
        let zh = locale == Locale::ZhCn;
        match self {
            Notice::TaskAssigned { by, title } if zh => format!("{by} 给你分配了任务：{title}"),
            Notice::TaskAssigned { by, title } => format!("{by} gave you a task: {title}"),
            Notice::LeadAssigned if zh => "有一条线索分配给了你".into(),
            Notice::LeadAssigned => "A lead was assigned to you".into(),
            Notice::LeadHandedOver if zh => "有一条线索转交给了你".into(),
            Notice::LeadHandedOver => "A lead was handed over to you".into(),
            Notice::LeadsAssigned { count } if zh => format!("{count} 条线索分配给了你"),
            Notice::LeadsAssigned { count } => format!("{count} leads were assigned to you"),
            Notice::DealStale { number, name, idle_days } if zh => format!("商机 {number} {name} 已 {:.0} 个工作日没有更新或跟进", idle_days.floor()),
            Notice::DealStale { number, name, idle_days } => format!("{number} {name} has had no update or touch for {:.0} working days", idle_days.floor()),
            Notice::DealDwell { number, name, stage, days, limit } if zh => {
                format!("商机 {number} {name} 已在「{stage}」停留 {:.0} 天，超过上限 {:.0} 天：请与主管复盘", days.floor(), limit)
            }
            Notice::DealDwell { number, name, stage, days, limit } => {
                format!("{number} {name} has been in {stage} for {:.0} days, past its limit of {:.0}: review it with your manager", days.floor(), limit)
            }
            Notice::TaskOverdue { title, due } if zh => format!("团队任务自 {} 起逾期：{title}", china(*due)),
            Notice::TaskOverdue { title, due } => format!("A task of your team is overdue since {}: {title}", china(*due)),
            Notice::SupportAsked { by, team, number, name, what, answer_by } if zh => {
                format!("{by} 请求{}支持商机 {number} {name}：{what}（请于 {} 前响应）", team_zh(team), china(*answer_by))
            }
            Notice::SupportAsked { by, team, number, name, what, answer_by } => {
                format!("{by} asks {} for help on {number} {name}: {what} (answer by {})", team_en(team), china(*answer_by))
            }
            Notice::SupportAnswered { by, verb, team, number, name, reason } if zh => {
                let done = match verb.as_str() {
                    "accepted" => "接受了",
                    "rejected" => "拒绝了",
                    "done" => "完成了",
                    _ => "撤回了",
                };
                let tail = match (verb.as_str(), reason) {
                    ("rejected", Some(r)) => format!("：{r}"),
                    ("done", _) => "，请为协作评分（1–10）".into(),
                    _ => String::new(),
                };
                format!("{by} {done}商机 {number} {name} 的{}协作请求{tail}", team_zh(team))
            }
            Notice::SupportAnswered { by, verb, team, number, name, reason } => {
                let (done, whose) = match verb.as_str() {
                    "accepted" => ("accepted", "your"),
                    "rejected" => ("rejected", "your"),
                    "done" => ("finished", "your"),
                    _ => ("cancelled", "the"),
                };
                let tail = match (verb.as_str(), reason) {
                    ("rejected", Some(r)) => format!(": {r}"),
                    ("done", _) => "; rate it 1–10".into(),
                    _ => String::new(),
                };
                format!("{by} {done} {whose} {} request on {number} {name}{tail}", team_en(team))
            }
            Notice::SupportUnanswered { team, what, answer_by } if zh => {
                format!("你团队发给{}的协作请求（{what}）在 {} 前无人响应", team_zh(team), china(*answer_by))
            }
            Notice::SupportUnanswered { team, what, answer_by } => {
                format!("Nobody in {} answered a request of your team ({what}) by {}", team_en(team), china(*answer_by))
            }
            Notice::PriorityMeeting { number, name, by } if zh => format!("商机 {number} {name} 已列为重点商机：请在 {by} 前安排总监会面"),
            Notice::PriorityMeeting { number, name, by } => format!("{number} {name} became a priority deal: please meet the customer by {by}"),
        }
    }
}

/// The title of the task a deal short of its stage's cadence owes its owner.
pub fn cadence_title(locale: Locale, number: &str, name: &str, stage: &str, touches: u32, per_days: u32) -> String {
    match locale {
        Locale::ZhCn => format!("跟进 {number} {name}：「{stage}」阶段要求每 {per_days} 天至少跟进 {touches} 次"),
        Locale::En => format!("Follow up {number} {name}: {stage} stage asks for {touches} touch(es) every {per_days} days"),
    }
}

/// The title of the reminder before a deal's expected close.
pub fn close_date_title(locale: Locale, number: &str, name: &str, close: NaiveDate) -> String {
    match locale {
        Locale::ZhCn => format!("{number} {name} 预计于 {close} 成交：请确认或调整日期"),
        Locale::En => format!("{number} {name} is expected to close on {close}: confirm the date or move it"),
    }
}

/// The title of the director's meeting task on a priority deal.
pub fn priority_meeting_title(locale: Locale, number: &str, name: &str) -> String {
    match locale {
        Locale::ZhCn => format!("重点商机总监会面：{number} {name}"),
        Locale::En => format!("Director meeting on priority deal {number} {name}"),
    }
}

/// A deal event as a chat group reads it (the workspace's language): what happened to which
/// deal, for how much.
#[derive(Debug, Clone, Copy)]
pub enum DealNews<'a> {
    Created { stage: &'a str },
    Moved { from: &'a str, to: &'a str },
    Won,
    Lost { note: Option<&'a str> },
}

/// An amount as a chat message shows it: `CNY 120,000.00` (a chat robot has no locale of
/// its own, so both languages group by thousands).
pub fn amount_text(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let (units, cents) = (minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
    format!("{currency} {sign}{}.{cents:02}", crate::text::group_thousands(units))
}

pub fn deal_news_text(locale: Locale, news: DealNews<'_>, number: &str, name: &str, amount: &str) -> String {
    let zh = locale == Locale::ZhCn;
    match news {
        DealNews::Created { stage } if zh => format!("新商机 {number} {name}（{amount}），阶段「{stage}」"),
        DealNews::Created { stage } => format!("New opportunity {number} {name} ({amount}) at {stage}"),
        DealNews::Moved { from, to } if zh => format!("商机 {number} {name} 从「{from}」推进到「{to}」（{amount}）"),
        DealNews::Moved { from, to } => format!("{number} {name} moved from {from} to {to} ({amount})"),
        DealNews::Won if zh => format!("赢单：{number} {name}（{amount}）"),
        DealNews::Won => format!("Won: {number} {name} ({amount})"),
        DealNews::Lost { note } if zh => format!("输单：{number} {name}（{amount}）{}", note.map(|n| format!("：{n}")).unwrap_or_default()),
        DealNews::Lost { note } => format!("Lost: {number} {name} ({amount}){}", note.map(|n| format!(": {n}")).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_speaks_both_languages_and_names_its_kind() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z").unwrap().with_timezone(&Utc);
        let cases = [
            (Notice::DealStale { number: "2026-SH-001".into(), name: "数据中台".into(), idle_days: 7.6 }, "deal_stale", "已 7 个工作日", "for 7 working days"),
            (Notice::TaskOverdue { title: "回访".into(), due: at }, "task_overdue", "2026-11-23 10:00", "since 2026-11-23 10:00: 回访"),
            (
                Notice::SupportAnswered { by: "王".into(), verb: "rejected".into(), team: "finance".into(), number: "N".into(), name: "D".into(), reason: Some("排期已满".into()) },
                "support_request",
                "王 拒绝了商机 N D 的财务协作请求：排期已满",
                "王 rejected your finance request on N D: 排期已满",
            ),
            (Notice::LeadsAssigned { count: 12 }, "leads_assigned", "12 条线索", "12 leads"),
            (
                Notice::PriorityMeeting { number: "N".into(), name: "D".into(), by: at.date_naive() },
                "priority_deal",
                "请在 2026-11-23 前安排总监会面",
                "meet the customer by 2026-11-23",
            ),
        ];
        for (notice, kind, zh, en) in cases {
            assert_eq!(notice.kind(), kind);
            assert!(notice.text(Locale::ZhCn).contains(zh), "{}", notice.text(Locale::ZhCn));
            assert!(notice.text(Locale::En).contains(en), "{}", notice.text(Locale::En));
        }
        assert!(cadence_title(Locale::ZhCn, "N", "D", "方案", 2, 7).contains("每 7 天至少跟进 2 次"));
        let moved = DealNews::Moved { from: "需求确认", to: "方案报价" };
        assert_eq!(deal_news_text(Locale::ZhCn, moved, "N", "D", "CNY 10.00"), "商机 N D 从「需求确认」推进到「方案报价」（CNY 10.00）");
        assert_eq!(deal_news_text(Locale::En, DealNews::Lost { note: Some("price") }, "N", "D", "CNY 10.00"), "Lost: N D (CNY 10.00): price");
        assert_eq!(amount_text(12_000_000, "CNY"), "CNY 120,000.00");
        assert_eq!(amount_text(123_456_789_05, "USD"), "USD 123,456,789.05");
        assert_eq!(amount_text(-99, "CNY"), "CNY -0.99");
        assert_eq!(amount_text(i64::MIN, "CNY"), "CNY -92,233,720,368,547,758.08");
        assert!(close_date_title(Locale::En, "N", "D", at.date_naive()).contains("close on 2026-11-23"));
    }
}
