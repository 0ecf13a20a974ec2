//! Reads the libphonenumber metadata committed in `core/metadata/` (upstream's
//! PhoneNumberMetadata.xml format, parsed by the `phonenumber` crate's loader) into plain data,
//! applying the defaults that libphonenumber's own metadata builder applies (and that crate does not):
//! the general description's possible lengths are the union of the number types' lengths, and
//! the national prefix doubles as the national prefix for parsing when none is given.

use phonenumber::metadata::{Database, Descriptor};
use std::path::Path;

/// Number types in the order the classifier's accept mask uses (bit 0 is the general desc).
pub const TYPE_NAMES: [&str; 10] = [
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
    pub pattern: String,
    pub lengths: Vec<u16>,
    pub local_lengths: Vec<u16>,
}

pub struct Territory {
    pub id: String,
    pub calling_code: u16,
    pub general: Desc,
    /// Indexed like `TYPE_NAMES`.
    pub types: Vec<Option<Desc>>,
    pub general_lengths: Vec<u16>,
    pub general_local_lengths: Vec<u16>,
    pub same_mobile_and_fixed_pattern: bool,
    pub international_prefix: Option<String>,
    pub national_prefix_for_parsing: Option<String>,
    pub national_prefix_transform_rule: Option<String>,
    pub leading_digits: Option<String>,
}

fn strip(pattern: &str) -> String {
    pattern.chars().filter(|c| !c.is_whitespace()).collect()
}

fn desc(d: &Descriptor) -> Desc {
    Desc {
        pattern: strip(d.national_number().as_str()),
        lengths: d.possible_length().to_vec(),
        local_lengths: d.possible_local_length().to_vec(),
    }
}

/// The committed metadata's release (`core/metadata/VERSION`, written by
/// scripts/update_metadata.py with the XML).
pub fn version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("VERSION")).expect("read core/metadata/VERSION");
    let version = text.trim().to_owned();
    assert!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "core/metadata/VERSION must hold a release such as 9.0.43, not {version:?}"
    );
    version
}

/// All territories ordered by calling code, then as libphonenumber lists the regions of a
/// calling code (main country first).
pub fn load(dir: &Path) -> Vec<Territory> {
    let xml = std::fs::read_to_string(dir.join("PhoneNumberMetadata.xml"))
        .expect("read core/metadata/PhoneNumberMetadata.xml");
    let database = Database::parse(xml).expect("core/metadata/PhoneNumberMetadata.xml loads");
    // `database.iter()` yields one entry per region id, which loses all but one of the
    // non-geographic "001" entries; the per-calling-code index has them all.
    let mut out = Vec::new();
    for code in 1..1000u16 {
        for meta in database.by_code(&code).unwrap_or_default() {
            let d = meta.descriptors();
            let types: Vec<Option<Desc>> = [
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
            ]
            .into_iter()
            .map(|x| x.map(desc))
            .collect();
            let mut general_lengths: Vec<u16> =
                types.iter().flatten().flat_map(|t| t.lengths.iter().copied()).collect();
            general_lengths.sort_unstable();
            general_lengths.dedup();
            let mut general_local_lengths: Vec<u16> = types
                .iter()
                .flatten()
                .flat_map(|t| t.local_lengths.iter().copied())
                .filter(|l| !general_lengths.contains(l))
                .collect();
            general_local_lengths.sort_unstable();
            general_local_lengths.dedup();
            let pattern_of = |t: &Option<Desc>| t.as_ref().map(|t| t.pattern.clone()).unwrap_or_default();
            let national_prefix = meta.national_prefix().filter(|p| !p.is_empty()).map(str::to_owned);
            assert!(
                national_prefix.as_deref().is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit())),
                "{}: national prefix must be digits",
                meta.id()
            );
            let national_prefix_for_parsing =
                meta.national_prefix_for_parsing().map(|r| strip(r.as_str())).or(national_prefix);
            out.push(Territory {
                id: meta.id().to_owned(),
                calling_code: code,
                general: desc(d.general()),
                same_mobile_and_fixed_pattern: pattern_of(&types[0]) == pattern_of(&types[1]),
                types,
                general_lengths,
                general_local_lengths,
                international_prefix: meta.international_prefix().map(|r| strip(r.as_str())),
                national_prefix_transform_rule: meta
                    .national_prefix_transform_rule()
                    .filter(|r| !r.is_empty() && meta.national_prefix_for_parsing().is_some())
                    .map(strip),
                national_prefix_for_parsing,
                leading_digits: meta.leading_digits().map(|r| strip(r.as_str())),
            });
        }
    }
    out
}
