//! The kanban: per-stage totals and the first cards of each column.

use chrono::{DateTime, NaiveDate, Utc};
use kairos_domain::identity::DataScope;
use kairos_domain::ids::{StageId, WorkspaceId};
use sea_query::{Alias, Expr, Order};
use serde::Serialize;

use crate::db::Conn;
use crate::error::StoreResult;
use crate::opportunity::{OppFilter, apply_filter, card_select, scoped_select};
use crate::scope::{col, is_literally};

/// Totals of open deals of one stage in one currency.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StageTotal {
    pub stage_id: String,
    pub currency: String,
    pub count: i64,
    pub amount: i64,
    /// Σ amount × probability (percent), so weighted = this / 100.
    pub amount_x_probability: i64,
}

pub async fn stage_totals(c: &mut Conn<'_>, ws: WorkspaceId, scope: &DataScope, f: &OppFilter) -> StoreResult<Vec<StageTotal>> {
    // No join to accounts here: totals read the covering index alone (a join made this
    // 20× slower at 100,000 deals).
    let mut q = scoped_select(ws, scope);
    apply_filter(&mut q, f);
    q.and_where(is_literally("o", "status", "open"));
    q.expr_as(col("o", "stage_id"), Alias::new("stage_id"))
        .expr_as(col("o", "currency"), Alias::new("currency"))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("count"))
        .expr_as(Expr::cust("CAST(COALESCE(SUM(o.amount), 0) AS BIGINT)"), Alias::new("amount"))
        .expr_as(Expr::cust("CAST(COALESCE(SUM(o.amount * o.probability), 0) AS BIGINT)"), Alias::new("amount_x_probability"))
        .group_by_col((Alias::new("o"), Alias::new("stage_id")))
        .group_by_col((Alias::new("o"), Alias::new("currency")));
    c.fetch_all(&q).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Card {
    #[sqlx(rename = "opportunity_id")]
    pub id: String,
    pub number: String,
    pub name: String,
    pub account_id: String,
    pub account_name: String,
    pub owner_id: String,
    pub owner_name: String,
    pub amount: i64,
    pub currency: String,
    pub expected_close_date: Option<NaiveDate>,
    pub health_score: i64,
    pub probability: i64,
    pub priority: bool,
    pub stage_entered_at: DateTime<Utc>,
    pub version: i64,
}

/// One column's cards, largest amount first.
pub async fn stage_cards(
    c: &mut Conn<'_>,
    ws: WorkspaceId,
    scope: &DataScope,
    f: &OppFilter,
    stage: StageId,
    limit: u64,
    offset: u64,
) -> StoreResult<Vec<Card>> {
    let mut q = card_select(ws, scope);
    apply_filter(&mut q, f);
    q.and_where(is_literally("o", "status", "open")).and_where(col("o", "stage_id").eq(stage.to_string()));
    q.expr(Expr::cust(
        "o.opportunity_id, o.number, o.name, o.account_id, ca.name AS account_name, o.owner_id, \
         (SELECT u.display_name FROM app_user u WHERE u.workspace_id = o.workspace_id AND u.user_id = o.owner_id) AS owner_name, \
         o.amount, o.currency, o.expected_close_date, o.health_score, o.probability, o.priority, o.stage_entered_at, o.version",
    ));
    q.order_by((Alias::new("o"), Alias::new("amount")), Order::Desc)
        .order_by((Alias::new("o"), Alias::new("opportunity_id")), Order::Asc)
        .limit(limit)
        .offset(offset);
    c.fetch_all(&q).await
}
