//! An executable model of how the `phonenumber` crate (0.3.10) parses plain inputs ('+' and
//! ASCII digits), written to prove that every difference between it and us comes from one of
//! its bugs listed here (tests/phone_reference.rs checks model == crate). It calls the
//! crate's own pattern matching (`Descriptor::is_match`, its regexes) and re-creates only
//! the control flow, with each departure from libphonenumber marked `BUG n`:
//!
//! 1. Possible lengths of the general description are never filled in, so its length test
//!    always says "invalid length": the default region's calling code is stripped from any
//!    national number that starts with it (Indian "91..." mobiles, ...), and national-prefix
//!    stripping is never rejected as "too short".
//! 2. National-prefix stripping uses the *default* region's rules even for numbers with
//!    another calling code ("+86 138..." parsed with default US loses its "1").
//! 3. The "don't strip if the number was viable and no longer is" check compares the number
//!    with itself, so a national prefix is always stripped ("+7 800..." → "+7 00...").
//! 4. The national prefix is stripped a second time after the national-prefix-for-parsing.
//! 5. Patterns are matched as prefixes, not against the whole number.
//! 6. Type and region are computed on the national number without its leading zeros
//!    (Italian fixed lines are "unknown"), while validity keeps them.
//! 7. The region of non-geographic numbers ("001") is reported as none.
//! 8. An all-zero national number fails to parse, and ones ≥ 2^56 are "too long".
//! 9. After '+' a leading international prefix of the default region is also stripped.
#![allow(dead_code)]

use super::database;
use phonenumber::metadata::Metadata;

fn meta_by_id(id: &str) -> Option<&'static Metadata> {
    if id == "001" {
        return None;
    }
    database().by_id(id)
}

/// `(e164, valid, type, region)` or an error.
pub type Outcome = Result<(String, bool, &'static str, Option<String>), ()>;

pub fn parse(default: Option<&str>, input: &str) -> Outcome {
    let default_meta = default.and_then(meta_by_id);
    let (plus, digits) = match input.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    // is_viable: two bare digits, or optional '+' and three digits.
    if input.len() < 2 || (plus && digits.len() < 3) {
        return Err(());
    }
    let idd = default_meta.and_then(|m| m.international_prefix());
    let mut national = digits.to_owned();
    let mut from_number = plus;
    let idd_end = idd.and_then(|re| re.find(&national)).filter(|m| m.start() == 0).map(|m| m.end());
    // BUG 9: also after '+'.
    if let Some(end) = idd_end {
        if !national[end..].starts_with('0') {
            from_number = true;
            national = national[end..].to_owned();
        }
    }
    let code: u16;
    if from_number {
        if national.len() <= 2 {
            return Err(());
        }
        if national.starts_with('0') {
            return Err(());
        }
        let found = (1..=3).find_map(|len| {
            let c: u16 = national[..len].parse().ok()?;
            database().by_code(&c).map(|_| (c, len))
        });
        let (c, len) = found.ok_or(())?;
        code = c;
        national = national[len..].to_owned();
    } else {
        let meta = default_meta.ok_or(())?;
        let cc = meta.country_code().to_string();
        // BUG 1: the "not valid or not possible" guard is always true.
        if national.starts_with(&cc) {
            national = national[cc.len()..].to_owned();
        }
        code = meta.country_code();
    }
    // BUG 2: the default region's metadata, whatever the calling code.
    let meta = match default_meta {
        Some(m) => Some(m),
        None => source_for(code, national.trim_start_matches('0')),
    };
    if let Some(meta) = meta {
        let mut potential = national_number(meta, &national);
        // BUG 4
        if let Some(np) = meta.national_prefix() {
            if potential.starts_with(np) {
                potential = potential[np.len()..].to_owned();
            }
        }
        // BUG 1: never "too short".
        national = potential;
    }
    if national.len() < 2 || national.len() > 17 {
        return Err(());
    }
    // BUG 8
    let zeros = national.chars().take_while(|&c| c == '0').count();
    let value: u64 = national[zeros..].parse().map_err(|_| ())?;
    if value >= 1 << 56 {
        return Err(());
    }
    let stripped = value.to_string();
    // BUG 6: validity with zeros, type and region without.
    let valid = source_for(code, &national).is_some_and(|m| number_type(m, &national) != "unknown");
    let typed = source_for(code, &stripped);
    let number_type = typed.map_or("unknown", |m| number_type(m, &stripped));
    // BUG 7
    let region = typed.map(|m| m.id().to_owned()).filter(|id| id != "001");
    Ok((format!("+{code}{national}"), valid, number_type, region))
}

/// The crate's `helper::national_number`.
fn national_number(meta: &Metadata, national: &str) -> String {
    let Some(parsing) = meta.national_prefix_for_parsing() else {
        if let Some(np) = meta.national_prefix() {
            if let Some(rest) = national.strip_prefix(np) {
                return rest.to_owned();
            }
        }
        return national.to_owned();
    };
    let Some(m) = parsing.find(national).filter(|m| m.start() == 0) else { return national.to_owned() };
    let general = meta.descriptors().general();
    let viable = general.is_match(national);
    let caps = parsing.captures(national).expect("matched");
    let last = caps.get(caps.len() - 1);
    match meta.national_prefix_transform_rule() {
        Some(rule) if last.is_some() => {
            let transformed = parsing.replace(national, rule).into_owned();
            if viable && !general.is_match(&transformed) {
                return national.to_owned();
            }
            transformed
        }
        // BUG 3: compares `national[start..]`, i.e. the unchanged number.
        _ => national[m.end()..].to_owned(),
    }
}

fn source_for(code: u16, national: &str) -> Option<&'static Metadata> {
    let regions = database().region(&code)?;
    if regions.len() == 1 {
        return database().by_code(&code).and_then(|m| m.into_iter().next());
    }
    regions.into_iter().filter_map(meta_by_id).find(|meta| match meta.leading_digits() {
        Some(ld) => ld.find(national).is_some_and(|m| m.start() == 0),
        None => number_type(meta, national) != "unknown",
    })
}

/// The crate's `validator::number_type` (BUG 5: `is_match` is a prefix match).
fn number_type(meta: &Metadata, value: &str) -> &'static str {
    let d = meta.descriptors();
    if !d.general().is_match(value) {
        return "unknown";
    }
    let hit = |x: Option<&phonenumber::metadata::Descriptor>| x.is_some_and(|x| x.is_match(value));
    for (name, desc) in [
        ("premium_rate", d.premium_rate()),
        ("toll_free", d.toll_free()),
        ("shared_cost", d.shared_cost()),
        ("voip", d.voip()),
        ("personal_number", d.personal_number()),
        ("pager", d.pager()),
        ("uan", d.uan()),
        ("voicemail", d.voicemail()),
    ] {
        if hit(desc) {
            return name;
        }
    }
    if hit(d.fixed_line()) {
        let same = d.fixed_line().map(|x| x.national_number().as_str())
            == d.mobile().map(|x| x.national_number().as_str());
        return if same || hit(d.mobile()) { "fixed_line_or_mobile" } else { "fixed_line" };
    }
    if hit(d.mobile()) {
        return "mobile";
    }
    "unknown"
}
