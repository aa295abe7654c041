//! Normalisation used for duplicate detection: two spellings of one customer must collide.
//!
//! The seeds' complaint is "one customer, three reps": 华为技术有限公司, 华为技术 and
//! "ＨＵＡＷＥＩ Technologies Co., Ltd." are typed by different people for the same company.
//! Keys produced here are stored beside the original text and carry the unique indexes.

use unicode_normalization::UnicodeNormalization;

use crate::Problem;

/// Legal-form suffixes of Chinese company names, longest first so that 股份有限公司 is removed
/// whole rather than leaving 股份.
const CJK_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "集团股份公司",
    "有限公司",
    "股份公司",
    "集团公司",
    "集团",
    "公司",
];

/// Latin legal-form words. They are only removed as whole trailing words, so "Costco" keeps
/// its "co" while "Acme Co., Ltd." loses both.
const LATIN_SUFFIX_WORDS: &[&str] = &[
    "co", "company", "corp", "corporation", "inc", "incorporated", "llc", "ltd", "limited",
    "gmbh", "plc", "group", "pte", "ag", "sa",
];

/// Unicode compatibility folding (full-width ＡＢＣ１２３ → ABC123, ideographic space → space)
/// followed by lower-casing.
fn fold(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The duplicate-detection key of a company (account) name.
///
/// Case, width, whitespace and punctuation are ignored, and trailing legal-form suffixes
/// (有限公司, 集团, Co., Ltd., Inc., LLC, …) are dropped. A name that is nothing but a suffix
/// keeps it, so the key is never empty for a non-empty name.
pub fn company_key(name: &str) -> String {
    let folded = fold(name);
    // Split into maximal runs of word characters; punctuation and spaces separate words.
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in folded.chars() {
        if is_word_char(c) {
            // A change between CJK and Latin script also separates words, so that
            // "华为technologies" and "华为 technologies" agree.
            if let Some(last) = current.chars().last() {
                if is_cjk(last) != is_cjk(c) {
                    words.push(std::mem::take(&mut current));
                }
            }
            current.push(c);
        } else if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    let full: String = words.concat();

    // Drop trailing Latin legal-form words, then trailing Chinese suffixes, repeatedly: a
    // name such as "ACME集团 Co., Ltd." carries both.
    loop {
        let before = words.len();
        while words.len() > 1
            && words.last().is_some_and(|w| {
                LATIN_SUFFIX_WORDS.contains(&w.as_str()) || CJK_SUFFIXES.contains(&w.as_str())
            })
        {
            words.pop();
        }
        if let Some(last) = words.last_mut() {
            let mut stripped = true;
            while stripped {
                stripped = false;
                for suffix in CJK_SUFFIXES {
                    if last.len() > suffix.len() && last.ends_with(suffix) {
                        last.truncate(last.len() - suffix.len());
                        stripped = true;
                        break;
                    }
                }
            }
        }
        if words.len() == before {
            break;
        }
    }
    let key: String = words.concat();
    if key.is_empty() { full } else { key }
}

/// The duplicate-detection key of an e-mail address, after checking its shape.
pub fn email_key(email: &str) -> Result<String, Problem> {
    let folded: String = email.trim().nfkc().flat_map(char::to_lowercase).collect();
    if folded.is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    if folded.len() > 254 {
        return Err(Problem::new("must be at most 254 characters"));
    }
    let Some((local, domain)) = folded.split_once('@') else {
        return Err(Problem::new("is not an e-mail address (missing @)"));
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@' || c == ',' || c == ';';
    if local.is_empty() || local.chars().any(bad_char) {
        return Err(Problem::new("is not an e-mail address (bad part before @)"));
    }
    if domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain.chars().any(|c| bad_char(c) || !(c.is_alphanumeric() || c == '.' || c == '-'))
    {
        return Err(Problem::new("is not an e-mail address (bad domain)"));
    }
    Ok(folded)
}

/// The duplicate-detection key of a phone number: digits only, with a leading `+` and
/// country code for numbers outside China; Chinese numbers lose their +86 / 0086 prefix so
/// that "+86 138-0013-8000" and "13800138000" agree.
pub fn phone_key(phone: &str) -> Result<String, Problem> {
    let folded: String = phone.trim().nfkc().collect();
    if folded.is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    let mut digits = String::new();
    let mut plus = false;
    for (i, c) in folded.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '(' | ')' | '.' | '/' => {}
            _ => return Err(Problem::new(format!("may only hold digits, spaces and + - ( ) . / (found {c:?})"))),
        }
    }
    if let Some(rest) = digits.strip_prefix("00") {
        // 00 is the international call prefix used in China and Europe.
        digits = rest.to_string();
        plus = true;
    }
    if plus {
        if let Some(national) = digits.strip_prefix("86") {
            digits = national.to_string();
            plus = false;
        }
    } else if digits.len() == 13 && digits.starts_with("861") {
        // A Chinese mobile number written with its country code but no '+'.
        digits = digits[2..].to_string();
    }
    if !(5..=20).contains(&digits.len()) {
        return Err(Problem::new("must have between 5 and 20 digits"));
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

/// Trims a free-text value and enforces a length in characters; `None` for blank input.
pub fn optional_text(text: Option<&str>, max_chars: usize) -> Result<Option<String>, Problem> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max_chars => {
            Err(Problem::new(format!("must be at most {max_chars} characters")))
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// Trims a required free-text value and enforces a length in characters.
pub fn required_text(text: &str, max_chars: usize) -> Result<String, Problem> {
    match optional_text(Some(text), max_chars)? {
        Some(t) => Ok(t),
        None => Err(Problem::new("must not be empty")),
    }
}

/// Tags: trimmed, non-empty, at most 40 characters each and 20 in all, duplicates (after
/// case folding) removed while keeping the first spelling.
pub fn tags(input: &[String]) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for tag in input {
        let t = tag.trim();
        if t.is_empty() {
            return Err(Problem::new("must not contain empty tags"));
        }
        if t.chars().count() > 40 {
            return Err(Problem::new("each tag must be at most 40 characters"));
        }
        if !out.iter().any(|o| fold(o) == fold(t)) {
            out.push(t.to_string());
        }
    }
    if out.len() > 20 {
        return Err(Problem::new("must hold at most 20 tags"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn company_key_ignores_case_width_spaces_punctuation_and_suffixes() {
        let same = [
            ("华为技术有限公司", "华为技术"),
            ("华为技术股份有限公司", "华为技术"),
            ("华为技术 有限责任公司", "华为技术"),
            ("阿里巴巴集团", "阿里巴巴"),
            ("ＡＣＭＥ　Ｃｏ．，Ｌｔｄ．", "acme"),
            ("Acme Co., Ltd.", "ACME"),
            ("Acme, Inc.", "acme"),
            ("Acme LLC", "acme"),
            ("Acme Corporation Limited", "acme"),
            ("Beijing-Acme (China)", "beijing acme china"),
            ("ACME集团 Co., Ltd.", "acme"),
        ];
        for (a, b) in same {
            assert_eq!(company_key(a), company_key(b), "{a} vs {b}");
        }
    }

    #[test]
    fn company_key_keeps_words_that_only_look_like_suffixes() {
        assert_eq!(company_key("Costco"), "costco");
        assert_eq!(company_key("Incorporated"), "incorporated");
        assert_eq!(company_key("公司"), "公司");
        assert_ne!(company_key("华为技术(北京)有限公司"), company_key("华为技术有限公司"));
        assert_eq!(company_key("阿里巴巴集团控股有限公司"), "阿里巴巴集团控股");
    }

    #[test]
    fn email_key_accepts_and_rejects() {
        assert_eq!(email_key("  Zhang.Wei@Example.COM ").unwrap(), "zhang.wei@example.com");
        assert_eq!(email_key("ｌｉ＠ｅｘａｍｐｌｅ．ｃｎ").unwrap(), "li@example.cn");
        for bad in ["", "no-at", "a@b", "a@@b.cn", "a b@c.cn", "@c.cn", "a@.cn", "a@c..cn", "a@c.cn."] {
            assert!(email_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn phone_key_agrees_across_spellings() {
        let same = [
            ("+86 138-0013-8000", "13800138000"),
            ("0086 13800138000", "13800138000"),
            ("8613800138000", "13800138000"),
            ("１３８ ００１３ ８０００", "13800138000"),
            ("(010) 6552-1234", "01065521234"),
            ("+1 (415) 555-0100", "+14155550100"),
            ("001 415 555 0100", "+14155550100"),
        ];
        for (input, key) in same {
            assert_eq!(phone_key(input).unwrap(), key, "{input}");
        }
        for bad in ["", "abc", "12", "138-0013-8000 ext. 5", "+1+2345678"] {
            assert!(phone_key(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let input = vec![" VIP ".to_string(), "vip".to_string(), "制造".to_string()];
        assert_eq!(tags(&input).unwrap(), vec!["VIP", "制造"]);
        assert!(tags(&["".to_string()]).is_err());
    }

    proptest! {
        #[test]
        fn company_key_is_insensitive_to_case_and_outer_spacing(name in "[A-Za-z\u{4e00}-\u{4e20}]{1,12}") {
            // Spaces inside Latin text separate words ("Co" is a suffix, "C o" is not), so
            // only case and surrounding space may vary freely.
            let padded = format!("  {}\u{3000}", name.to_lowercase());
            prop_assert_eq!(company_key(&name.to_uppercase()), company_key(&padded));
        }

        #[test]
        fn company_key_ignores_spaces_between_chinese_characters(name in "[\u{4e00}-\u{4e20}]{1,12}") {
            let spaced: String = name.chars().flat_map(|c| [c, ' ']).collect();
            prop_assert_eq!(company_key(&name), company_key(&spaced));
        }

        #[test]
        fn company_key_drops_any_legal_suffix(name in "[\u{4e00}-\u{4e20}]{2,8}", i in 0usize..CJK_SUFFIXES.len()) {
            let with_suffix = format!("{}{}", name, CJK_SUFFIXES[i]);
            prop_assert_eq!(company_key(&with_suffix), company_key(&name));
        }

        #[test]
        fn company_key_never_panics_and_is_never_empty_for_word_input(name in "\\PC{1,40}") {
            let key = company_key(&name);
            if name.chars().any(char::is_alphanumeric) {
                prop_assert!(!key.is_empty());
            }
        }

        #[test]
        fn phone_key_is_stable(digits in "1[3-9][0-9]{9}") {
            let dashed = format!("+86 {}-{}-{}", &digits[0..3], &digits[3..7], &digits[7..]);
            prop_assert_eq!(phone_key(&dashed).unwrap(), digits.clone());
            prop_assert_eq!(phone_key(&phone_key(&digits).unwrap()).unwrap(), digits);
        }

        #[test]
        fn email_key_never_panics(s in "\\PC{0,60}") {
            let _ = email_key(&s);
        }
    }
}

/// 1234567 → "1,234,567": how amounts are grouped in both languages (web pages and chat
/// texts alike).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The symbol an amount is shown with; a currency without a well-known one shows its code.
pub fn currency_symbol(currency: &str) -> String {
    match currency {
        "CNY" | "RMB" => "¥".into(),
        "USD" => "$".into(),
        "EUR" => "€".into(),
        "GBP" => "£".into(),
        "JPY" => "JP¥".into(),
        "HKD" => "HK$".into(),
        other => format!("{other} "),
    }
}

/// Minor units → "¥1,234,567.89"; whole amounts drop the ".00". The one money text of web
/// pages, report answers and exports, so a figure reads the same everywhere.
pub fn money(minor: i64, currency: &str) -> String {
    let amount = decimal(minor);
    match amount.strip_prefix('-') {
        Some(magnitude) => format!("-{}{magnitude}", currency_symbol(currency)),
        None => format!("{}{amount}", currency_symbol(currency)),
    }
}

/// Minor units → "1,234,567.89" without a currency, as a money input shows (and reads back)
/// an amount; whole amounts drop the ".00".
pub fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let (units, cents) = (minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
    let units = group_thousands(units);
    if cents == 0 { format!("{sign}{units}") } else { format!("{sign}{units}.{cents:02}") }
}

#[cfg(test)]
mod money_tests {
    use super::*;

    #[test]
    fn money_is_grouped_with_its_symbol_and_cents_only_when_there_are_some() {
        assert_eq!(money(123_456_789, "CNY"), "¥1,234,567.89");
        assert_eq!(money(50_000_000, "CNY"), "¥500,000");
        assert_eq!(money(-100, "USD"), "-$1");
        assert_eq!(money(1234, "SGD"), "SGD 12.34");
        assert_eq!(decimal(350_000_050), "3,500,000.50");
        assert_eq!(decimal(i64::MIN), "-92,233,720,368,547,758.08");
    }
}
