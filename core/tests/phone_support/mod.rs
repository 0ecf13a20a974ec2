//! Test oracle: libphonenumber's parse / getRegionCodeForNumber / getNumberType transcribed
//! directly from its Java source, matching the metadata patterns with `regex-lite` (so it
//! shares no matching code with the automata under test). Input must already be plain
//! ASCII digits with an optional leading '+'.
#![allow(dead_code)]

pub mod crate_model;

use phonenumber::metadata::{Database, Descriptor};
use regex_lite::Regex;
use std::collections::BTreeMap;

pub const TYPES: [&str; 10] = [
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
];

pub struct Desc {
    full: Regex,
    lengths: Vec<usize>,
    pub example: Option<String>,
}

pub struct Territory {
    pub id: String,
    pub calling_code: u16,
    general: Regex,
    general_lengths: Vec<usize>,
    general_local_lengths: Vec<usize>,
    /// Indexed like `TYPES`.
    pub types: Vec<Option<Desc>>,
    same_mobile_and_fixed: bool,
    international_prefix: Option<Regex>,
    pub national_prefix: Option<String>,
    national_prefix_for_parsing: Option<Regex>,
    transform: Option<String>,
    leading_digits: Option<Regex>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub e164: String,
    pub national: String,
    pub calling_code: u16,
    pub region: Option<String>,
    pub number_type: &'static str,
    pub valid: bool,
}

pub struct Oracle {
    pub territories: Vec<Territory>,
    by_code: BTreeMap<u16, Vec<usize>>,
}

/// The metadata the core's tables are built from (`core/metadata/`), loaded by the
/// `phonenumber` crate, whose built-in database may be an older release.
pub fn database() -> &'static Database {
    static DATABASE: std::sync::OnceLock<Database> = std::sync::OnceLock::new();
    DATABASE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/metadata/PhoneNumberMetadata.xml");
        Database::load(path).expect("core/metadata/PhoneNumberMetadata.xml loads")
    })
}

fn strip(p: &str) -> String {
    p.chars().filter(|c| !c.is_whitespace()).collect()
}

fn full(p: &str) -> Regex {
    Regex::new(&format!("^(?:{})$", strip(p))).expect("pattern")
}

fn looking_at(p: &str) -> Regex {
    Regex::new(&format!("^(?:{})", strip(p))).expect("pattern")
}

impl Oracle {
    pub fn new() -> Oracle {
        let mut territories = Vec::new();
        let mut by_code: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for code in 1..1000u16 {
            for meta in database().by_code(&code).unwrap_or_default() {
                let d = meta.descriptors();
                let descs = [
                    d.fixed_line(),
                    d.mobile(),
                    d.toll_free(),
                    d.premium_rate(),
                    d.shared_cost(),
                    d.voip(),
                    d.personal_number(),
                    d.pager(),
                    d.uan(),
                    d.voicemail(),
                ];
                let mut lengths = Vec::new();
                let mut local = Vec::new();
                for x in descs.iter().flatten() {
                    lengths.extend(x.possible_length().iter().map(|&l| l as usize));
                    local.extend(x.possible_local_length().iter().map(|&l| l as usize));
                }
                lengths.sort_unstable();
                lengths.dedup();
                local.retain(|l| !lengths.contains(l));
                local.sort_unstable();
                local.dedup();
                let desc = |x: &Descriptor| Desc {
                    full: full(x.national_number().as_str()),
                    lengths: x.possible_length().iter().map(|&l| l as usize).collect(),
                    example: x.example().map(str::to_owned),
                };
                let pattern = |x: Option<&Descriptor>| {
                    x.map(|x| strip(x.national_number().as_str())).unwrap_or_default()
                };
                let np = meta.national_prefix().filter(|p| !p.is_empty()).map(str::to_owned);
                let npfp = meta.national_prefix_for_parsing().map(|r| r.as_str().to_owned()).or(np.clone());
                by_code.entry(code).or_default().push(territories.len());
                territories.push(Territory {
                    id: meta.id().to_owned(),
                    calling_code: code,
                    general: full(d.general().national_number().as_str()),
                    general_lengths: lengths,
                    general_local_lengths: local,
                    types: descs.iter().map(|x| x.map(desc)).collect(),
                    same_mobile_and_fixed: pattern(d.fixed_line()) == pattern(d.mobile()),
                    international_prefix: meta.international_prefix().map(|r| looking_at(r.as_str())),
                    national_prefix: np,
                    national_prefix_for_parsing: npfp.as_deref().map(looking_at),
                    transform: meta
                        .national_prefix_for_parsing()
                        .and(meta.national_prefix_transform_rule())
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned),
                    leading_digits: meta.leading_digits().map(|r| looking_at(r.as_str())),
                });
            }
        }
        Oracle { territories, by_code }
    }

    pub fn region_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.territories.iter().map(|t| t.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn by_id(&self, id: &str) -> Option<&Territory> {
        self.territories.iter().find(|t| t.id == id && id != "001")
    }

    fn main_for_code(&self, code: u16) -> Option<&Territory> {
        self.by_code.get(&code).and_then(|v| v.first()).map(|&i| &self.territories[i])
    }

    /// `PhoneNumberUtil.parse(number, defaultRegion)` + classification; errors by our codes.
    pub fn parse(&self, default: Option<&str>, plus: bool, digits: &str) -> Result<Parsed, &'static str> {
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        let default = default.and_then(|d| self.by_id(d));
        // isViablePhoneNumber
        let viable = if plus { digits.len() >= 3 } else { digits.len() >= 2 };
        if !viable {
            return Err("not_a_number");
        }
        // checkRegionForParsing
        if default.is_none() && !plus {
            return Err("no_default_region");
        }
        let mut extracted = self.maybe_extract_country_code(digits, plus, default);
        if extracted == Err("invalid_calling_code") && plus {
            extracted = match self.maybe_extract_country_code(digits, false, default) {
                Ok(None) => Err("invalid_calling_code"),
                other => other,
            };
        }
        let (code, mut national, mut meta) = match extracted? {
            Some((code, national)) => {
                let main = self.main_for_code(code).expect("known code");
                let meta = if default.is_some_and(|d| d.id == main.id) { default } else { Some(main) };
                (code, national, meta)
            }
            None => {
                let d = default.expect("checked");
                (d.calling_code, digits.to_owned(), Some(d))
            }
        };
        if national.len() < 2 {
            return Err("too_short");
        }
        if let Some(m) = meta.take() {
            let mut potential = national.clone();
            self.strip_national_prefix(&mut potential, m);
            let v = test_length(&potential, m);
            if !matches!(v, "too_short" | "local_only" | "invalid_length") {
                national = potential;
            }
        }
        if national.len() < 2 {
            return Err("too_short");
        }
        if national.len() > 17 {
            return Err("too_long");
        }
        let region = self.region_for(code, &national);
        let number_type = region.map_or("unknown", |t| number_type(t, &national));
        Ok(Parsed {
            e164: format!("+{code}{national}"),
            national: national.clone(),
            calling_code: code,
            region: region.map(|t| t.id.clone()),
            number_type,
            valid: number_type != "unknown",
        })
    }

    fn maybe_extract_country_code(
        &self,
        number: &str,
        plus: bool,
        default: Option<&Territory>,
    ) -> Result<Option<(u16, String)>, &'static str> {
        if number.is_empty() {
            return Ok(None);
        }
        let mut full = number.to_owned();
        let from_default = if plus {
            false
        } else {
            // parsePrefixAsIdd
            let idd = default.and_then(|d| d.international_prefix.as_ref());
            match idd.and_then(|re| re.find(&full)) {
                Some(m) if !full[m.end()..].starts_with('0') => {
                    full = full[m.end()..].to_owned();
                    false
                }
                _ => true,
            }
        };
        if !from_default {
            if full.len() <= 2 {
                return Err("too_short");
            }
            // extractCountryCode
            if full.starts_with('0') {
                return Err("invalid_calling_code");
            }
            for i in 1..=3.min(full.len()) {
                let code: u16 = full[..i].parse().expect("digits");
                if self.by_code.contains_key(&code) {
                    return Ok(Some((code, full[i..].to_owned())));
                }
            }
            return Err("invalid_calling_code");
        }
        if let Some(d) = default {
            let code = d.calling_code.to_string();
            if let Some(rest) = full.strip_prefix(&code) {
                let mut potential = rest.to_owned();
                self.strip_national_prefix(&mut potential, d);
                if (!d.general.is_match(&full) && d.general.is_match(&potential))
                    || test_length(&full, d) == "too_long"
                {
                    return Ok(Some((d.calling_code, potential)));
                }
            }
        }
        Ok(None)
    }

    fn strip_national_prefix(&self, number: &mut String, m: &Territory) {
        let Some(re) = m.national_prefix_for_parsing.as_ref() else { return };
        if number.is_empty() {
            return;
        }
        let Some(caps) = re.captures(number) else { return };
        let end = caps.get(0).expect("match").end();
        let viable = m.general.is_match(number);
        let groups = caps.len() - 1;
        let last_missing = caps.get(groups).is_none();
        match &m.transform {
            Some(rule) if !last_missing => {
                let mut out = String::new();
                let mut chars = rule.chars();
                while let Some(c) = chars.next() {
                    if c == '$' {
                        let g = chars.next().and_then(|g| g.to_digit(10)).expect("group ref") as usize;
                        out.push_str(caps.get(g).map_or("", |m| m.as_str()));
                    } else {
                        out.push(c);
                    }
                }
                out.push_str(&number[end..]);
                if viable && !m.general.is_match(&out) {
                    return;
                }
                *number = out;
            }
            _ => {
                if viable && !m.general.is_match(&number[end..]) {
                    return;
                }
                *number = number[end..].to_owned();
            }
        }
    }

    fn region_for(&self, code: u16, national: &str) -> Option<&Territory> {
        let list = self.by_code.get(&code)?;
        if list.len() == 1 {
            return Some(&self.territories[list[0]]);
        }
        list.iter().map(|&i| &self.territories[i]).find(|t| match &t.leading_digits {
            Some(ld) => ld.is_match(national),
            None => number_type(t, national) != "unknown",
        })
    }
}

fn test_length(number: &str, m: &Territory) -> &'static str {
    let len = number.len();
    let possible = &m.general_lengths;
    if possible.is_empty() {
        return "invalid_length";
    }
    if m.general_local_lengths.contains(&len) {
        return "local_only";
    }
    let min = possible[0];
    if len == min {
        "possible"
    } else if len < min {
        "too_short"
    } else if len > *possible.last().expect("non-empty") {
        "too_long"
    } else if possible[1..].contains(&len) {
        "possible"
    } else {
        "invalid_length"
    }
}

fn matches_desc(national: &str, desc: Option<&Desc>) -> bool {
    desc.is_some_and(|d| {
        (d.lengths.is_empty() || d.lengths.contains(&national.len())) && d.full.is_match(national)
    })
}

/// getNumberTypeHelper.
pub fn number_type(m: &Territory, national: &str) -> &'static str {
    let general_ok = (m.general_lengths.is_empty() || m.general_lengths.contains(&national.len()))
        && m.general.is_match(national);
    if !general_ok {
        return "unknown";
    }
    let desc = |name: &str| m.types[TYPES.iter().position(|t| *t == name).expect("type")].as_ref();
    for name in
        ["premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail"]
    {
        if matches_desc(national, desc(name)) {
            return name;
        }
    }
    if matches_desc(national, desc("fixed_line")) {
        if m.same_mobile_and_fixed || matches_desc(national, desc("mobile")) {
            return "fixed_line_or_mobile";
        }
        return "fixed_line";
    }
    if !m.same_mobile_and_fixed && matches_desc(national, desc("mobile")) {
        return "mobile";
    }
    "unknown"
}
