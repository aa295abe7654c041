//! Paging and sorting of lists.

use sea_query::{Alias, Order, SelectStatement};

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u64,
    pub offset: u64,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many records match the filter in all, under the caller's scope.
    pub total: i64,
    /// Where the next page starts, or `None` on the last page.
    pub next_offset: Option<u64>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, total: i64, request: PageRequest) -> Page<T> {
        let end = request.offset + items.len() as u64;
        let next_offset = (end < total.max(0) as u64 && !items.is_empty()).then_some(end);
        Page { items, total, next_offset }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), total: self.total, next_offset: self.next_offset }
    }
}

/// A sort on one column of a table alias; the primary key breaks ties so that pages never
/// overlap or skip.
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    pub column: &'static str,
    pub descending: bool,
}

impl Sort {
    pub fn apply(&self, q: &mut SelectStatement, alias: &str, tie_breaker: &str) {
        let order = if self.descending { Order::Desc } else { Order::Asc };
        q.order_by((Alias::new(alias), Alias::new(self.column)), order.clone());
        q.order_by((Alias::new(alias), Alias::new(tie_breaker)), order);
    }
}

pub fn apply_page(q: &mut SelectStatement, page: PageRequest) {
    q.limit(page.limit).offset(page.offset);
}
