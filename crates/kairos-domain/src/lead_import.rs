//! Reading leads from spreadsheet rows (PRODUCT.md §3): which column holds which field, and
//! how the cells people actually type ("50万", "2027/3/1", "是") become values.

use chrono::NaiveDate;

use crate::Problem;

/// The lead fields a file may carry.
pub const FIELDS: [&str; 17] = [
    "source",
    "campaign",
    "company",
    "contact_name",
    "title",
    "phone",
    "email",
    "region",
    "industry",
    "notes",
    "budget_amount",
    "budget_approved",
    "is_decision_maker",
    "need_description",
    "need_match",
    "expected_purchase_date",
    "owner_email",
];

/// Headers that name a field without a mapping file, in Chinese and English.
fn aliases(field: &str) -> &'static [&'static str] {
    match field {
        "source" => &["source", "来源", "线索来源", "渠道"],
        "campaign" => &["campaign", "活动", "市场活动"],
        "company" => &["company", "公司", "公司名称", "单位", "企业名称", "客户名称"],
        "contact_name" => &["contact_name", "contact", "name", "联系人", "姓名"],
        "title" => &["title", "职位", "职务"],
        "phone" => &["phone", "mobile", "电话", "手机", "手机号", "联系电话"],
        "email" => &["email", "e-mail", "邮箱", "电子邮件"],
        "region" => &["region", "地区", "区域", "省份"],
        "industry" => &["industry", "行业"],
        "notes" => &["notes", "note", "备注"],
        "budget_amount" => &["budget_amount", "budget", "预算", "预算金额"],
        "budget_approved" => &["budget_approved", "预算已批", "预算是否审批"],
        "is_decision_maker" => &["is_decision_maker", "decision_maker", "决策人", "是否决策人"],
        "need_description" => &["need_description", "need", "需求", "需求描述"],
        "need_match" => &["need_match", "需求匹配度", "匹配度"],
        "expected_purchase_date" => &["expected_purchase_date", "purchase_date", "预计采购时间", "采购时间"],
        "owner_email" => &["owner_email", "owner", "负责人邮箱"],
        _ => &[],
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().trim_start_matches('\u{feff}').to_lowercase() == b.to_lowercase()
}

/// Maps fields to column positions: the mapping given (field → header) wins; without one,
/// headers are recognised by their usual names. Every problem is named.
pub fn column_map(headers: &[String], given: Option<&[(String, String)]>) -> Result<Vec<(&'static str, usize)>, Vec<String>> {
    let mut problems = Vec::new();
    let mut map: Vec<(&'static str, usize)> = Vec::new();
    match given {
        Some(pairs) => {
            for (field, header) in pairs {
                let Some(known) = FIELDS.iter().find(|f| **f == field.as_str()) else {
                    problems.push(format!("the mapping names an unknown field {field:?}; known fields: {}", FIELDS.join(", ")));
                    continue;
                };
                match headers.iter().position(|h| same(h, header)) {
                    Some(i) => map.push((known, i)),
                    None => problems.push(format!(
                        "the mapping puts {field} in column {header:?}, which the file does not have (its columns: {})",
                        headers.iter().map(|h| h.trim()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }
        None => {
            for field in FIELDS {
                if let Some(i) = headers.iter().position(|h| aliases(field).iter().any(|a| same(h, a))) {
                    map.push((field, i));
                }
            }
        }
    }
    let has = |f: &str| map.iter().any(|(m, _)| *m == f);
    if problems.is_empty() {
        if !has("company") && !has("contact_name") {
            problems.push("no column holds the company or the contact name".into());
        }
        if !has("phone") && !has("email") {
            problems.push("no column holds a phone number or an e-mail address".into());
        }
    }
    if problems.is_empty() { Ok(map) } else { Err(problems) }
}

/// Money as typed: "500,000.00", "¥500000", "50万" (ten thousands), "1.2亿"; answers minor
/// units (cents, 分).
pub fn money_cell(text: &str) -> Result<i64, Problem> {
    let cleaned: String = text.trim().chars().filter(|c| !matches!(c, ',' | '，' | ' ' | '¥' | '￥' | '$' | '元')).collect();
    let (number, factor) = if let Some(n) = cleaned.strip_suffix('万') {
        (n, 10_000i128)
    } else if let Some(n) = cleaned.strip_suffix('亿') {
        (n, 100_000_000i128)
    } else {
        (cleaned.as_str(), 1i128)
    };
    let bad = || Problem::new(format!("{:?} is not an amount (e.g. 500000, 500,000.00 or 50万)", text.trim()));
    let (units, fraction) = number.split_once('.').unwrap_or((number, ""));
    if units.is_empty() && fraction.is_empty() {
        return Err(bad());
    }
    if !units.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 8 {
        return Err(bad());
    }
    let units: i128 = if units.is_empty() { 0 } else { units.parse().map_err(|_| bad())? };
    let scale = 10i128.pow(fraction.len() as u32);
    let fraction: i128 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| bad())? };
    // (units + fraction/scale) × factor × 100, rounded to the cent.
    let cents = (units * scale + fraction) * factor * 100;
    let rounded = (cents + scale / 2) / scale;
    i64::try_from(rounded).ok().filter(|v| *v <= crate::opportunity::MAX_AMOUNT).ok_or_else(|| Problem::new("is implausibly large"))
}

/// A date as spreadsheets write it: 2027-03-01, 2027/3/1, 2027.3.1, 2027年3月1日, or an
/// Excel serial day number (46082).
pub fn date_cell(text: &str) -> Result<NaiveDate, Problem> {
    let t = text.trim();
    let bad = || Problem::new(format!("{t:?} is not a date (e.g. 2027-03-01, 2027/3/1 or 2027年3月1日)"));
    if let Ok(serial) = t.parse::<f64>() {
        // Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
        if (1.0..=2_958_465.0).contains(&serial) {
            let base = NaiveDate::from_ymd_opt(1899, 12, 30).ok_or_else(bad)?;
            return base.checked_add_signed(chrono::TimeDelta::days(serial.trunc() as i64)).ok_or_else(bad);
        }
        return Err(bad());
    }
    let normalised: String = t
        .trim_end_matches('日')
        .chars()
        .map(|c| if matches!(c, '/' | '.' | '年' | '月') { '-' } else { c })
        .collect();
    let date_part = normalised.split([' ', 'T']).next().unwrap_or("");
    let parts: Vec<&str> = date_part.split('-').collect();
    if let [y, m, d] = parts.as_slice() {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
            if (1900..=2200).contains(&y) {
                return NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad);
            }
        }
    }
    Err(bad())
}

/// Yes or no as typed: 是/否, 有/无, yes/no, y/n, true/false, 1/0, √/×.
pub fn bool_cell(text: &str) -> Result<bool, Problem> {
    match text.trim().to_lowercase().as_str() {
        "是" | "有" | "yes" | "y" | "true" | "1" | "√" | "✓" | "已批" => Ok(true),
        "否" | "无" | "no" | "n" | "false" | "0" | "×" | "✗" | "未批" => Ok(false),
        other => Err(Problem::new(format!("{other:?} is not yes or no (是/否, yes/no, 1/0)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn headers_are_recognised_or_mapped_and_every_gap_is_named() {
        let h = headers(&["\u{feff}公司名称", "联系人", "手机", "预算", "来源"]);
        let map = column_map(&h, None).unwrap();
        assert_eq!(map, [("source", 4), ("company", 0), ("contact_name", 1), ("phone", 2), ("budget_amount", 3)]);
        let given = vec![("company".to_string(), "Firma".to_string()), ("email".to_string(), "Mail".to_string())];
        assert_eq!(column_map(&headers(&["Firma", "Mail"]), Some(&given)).unwrap(), [("company", 0), ("email", 1)]);
        let wrong = vec![("company".to_string(), "Nope".to_string()), ("colour".to_string(), "Mail".to_string())];
        let problems = column_map(&headers(&["Firma", "Mail"]), Some(&wrong)).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("unknown field \"colour\"") || problems[1].contains("unknown field \"colour\""));
        assert!(problems.iter().any(|p| p.contains("\"Nope\"") && p.contains("Firma, Mail")));
        let problems = column_map(&headers(&["公司"]), None).unwrap_err();
        assert_eq!(problems, ["no column holds a phone number or an e-mail address"]);
    }

    #[test]
    fn money_reads_grouping_currency_and_chinese_units() {
        let table = [("500,000.00", Some(50_000_000)), ("¥500000", Some(50_000_000)), ("50万", Some(50_000_000)), ("1.2亿", Some(12_000_000_000)),
            ("3.5万元", Some(3_500_000)), ("0.015", Some(2)), ("", None), ("abc", None), ("-5", None), ("1e9", None)];
        for (text, expected) in table {
            assert_eq!(money_cell(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn dates_read_the_usual_spellings_and_excel_serials() {
        let d = NaiveDate::from_ymd_opt(2027, 3, 1);
        for text in ["2027-03-01", "2027/3/1", "2027.3.1", "2027年3月1日", "2027-03-01 00:00:00", "46447"] {
            assert_eq!(date_cell(text).ok(), d, "{text}");
        }
        for text in ["2027-02-30", "next week", "03/01/2027", ""] {
            assert!(date_cell(text).is_err(), "{text}");
        }
    }

    #[test]
    fn yes_and_no_in_both_languages() {
        assert_eq!(bool_cell("是"), Ok(true));
        assert_eq!(bool_cell(" No "), Ok(false));
        assert!(bool_cell("maybe").is_err());
    }
}
