//! Interface languages (zh-CN, en): the label catalogs and locale-aware formatting of
//! numbers, money and dates. Catalogs are flat `key → text` JSON files compiled into the
//! binary; a test checks that both hold exactly the keys the templates use.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Anything starting with "en" is English; everything else is the default, Chinese.
    pub fn from_tag(tag: &str) -> Lang {
        if tag.trim().to_ascii_lowercase().starts_with("en") { Lang::En } else { Lang::ZhCn }
    }
}

pub type Catalog = BTreeMap<String, String>;

pub static EN: LazyLock<Catalog> = LazyLock::new(|| parse(include_str!("../../locales/en.json")));
pub static ZH_CN: LazyLock<Catalog> = LazyLock::new(|| parse(include_str!("../../locales/zh-CN.json")));

fn parse(source: &str) -> Catalog {
    serde_json::from_str(source).expect("built-in label catalog is valid JSON")
}

pub fn catalog(lang: Lang) -> &'static Catalog {
    match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    }
}

/// One label; a missing key shows as the key itself rather than as nothing (and the
/// catalog test fails long before a user could see it).
pub fn label(lang: Lang, key: &str) -> String {
    catalog(lang).get(key).cloned().unwrap_or_else(|| key.to_string())
}

/// 1234567 → "1,234,567" (both languages group by thousands).
pub fn group(n: i64) -> String {
    let out = kairos_domain::text::group_thousands(n.unsigned_abs());
    if n < 0 { format!("-{out}") } else { out }
}

/// Money texts are the domain's, so pages, report answers and exports agree.
pub use kairos_domain::text::{decimal, money};

/// Compact money for kanban headers and cards: 万/亿 in Chinese, K/M/B in English.
pub fn money_short(lang: Lang, minor: i64, currency: &str) -> String {
    let units = minor as f64 / 100.0;
    let sign = if units < 0.0 { "-" } else { "" };
    let a = units.abs();
    let (value, suffix) = match lang {
        Lang::ZhCn if a >= 1e8 => (a / 1e8, "亿"),
        Lang::ZhCn if a >= 1e4 => (a / 1e4, "万"),
        Lang::En if a >= 1e9 => (a / 1e9, "B"),
        Lang::En if a >= 1e6 => (a / 1e6, "M"),
        Lang::En if a >= 1e3 => (a / 1e3, "K"),
        _ => return money(minor, currency),
    };
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{sign}{}{text}{suffix}", kairos_domain::text::currency_symbol(currency))
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// 2026-11-23 → "2026年11月23日" or "23 Nov 2026".
pub fn date(lang: Lang, d: NaiveDate) -> String {
    match lang {
        Lang::ZhCn => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
        Lang::En => format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(-1_000_000), "-1,000,000");
    }

    #[test]
    fn compact_money_uses_wan_in_chinese_and_thousands_in_english() {
        assert_eq!(money_short(Lang::ZhCn, 50_000_000, "CNY"), "¥50万");
        assert_eq!(money_short(Lang::ZhCn, 2_685_000_000, "CNY"), "¥2685万");
        assert_eq!(money_short(Lang::ZhCn, 25_000_000_000, "CNY"), "¥2.5亿");
        assert_eq!(money_short(Lang::En, 50_000_000, "CNY"), "¥500K");
        assert_eq!(money_short(Lang::En, 2_685_000_000, "USD"), "$26.9M");
        assert_eq!(money_short(Lang::En, 9_900, "USD"), "$99");
    }

    #[test]
    fn dates_follow_the_language() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        assert_eq!(date(Lang::ZhCn, d), "2026年11月3日");
        assert_eq!(date(Lang::En, d), "3 Nov 2026");
    }

    #[test]
    fn both_catalogs_hold_the_same_keys_and_no_empty_text() {
        let en: Vec<&String> = EN.keys().collect();
        let zh: Vec<&String> = ZH_CN.keys().collect();
        let only_en: Vec<_> = en.iter().filter(|k| !ZH_CN.contains_key(k.as_str())).collect();
        let only_zh: Vec<_> = zh.iter().filter(|k| !EN.contains_key(k.as_str())).collect();
        assert!(only_en.is_empty() && only_zh.is_empty(), "keys only in en: {only_en:?}; only in zh-CN: {only_zh:?}");
        for (lang, c) in [("en", &*EN), ("zh-CN", &*ZH_CN)] {
            let empty: Vec<_> = c.iter().filter(|(_, v)| v.trim().is_empty()).map(|(k, _)| k).collect();
            assert!(empty.is_empty(), "{lang} has empty labels: {empty:?}");
        }
    }
}
