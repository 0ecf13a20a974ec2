//! Country sets: ISO regions (`GB`) and calling codes (`+44`).
//!
//! They differ where regions share a calling code: `+44` covers GB, GG, JE and IM, `+1` the US,
//! Canada and the Caribbean, while `GB` is only the numbers libphonenumber assigns to GB. A number
//! that no region claims (invalid, unassigned range) only matches by calling code.

use crate::phone::{PhoneNumber, Region};

/// Countries given as ISO regions and calling codes.
#[derive(Clone, Debug, Default)]
pub struct CountrySet {
    regions: Vec<Region>,
    calling_codes: Vec<u16>,
}

impl CountrySet {
    /// Parses one entry; the error says what is accepted.
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        if let Some(code) = entry.strip_prefix('+') {
            let valid = !code.is_empty()
                && code.len() <= 3
                && code.bytes().all(|b| b.is_ascii_digit())
                && !code.starts_with('0');
            let cc = code.parse::<u16>().ok().filter(|_| valid).ok_or_else(|| {
                format!("{entry:?} is not a calling code: expected '+' and 1 to 3 digits, e.g. \"+44\"")
            })?;
            if crate::phone::regions_for_calling_code(cc).is_empty() {
                return Err(format!("{entry:?} is not an assigned calling code"));
            }
            self.calling_codes.push(cc);
            return Ok(());
        }
        let region = Region::from_code(entry).ok_or_else(|| {
            format!(
                "{entry:?} is not a known region: expected an ISO 3166 code such as \"GB\", \"001\" \
                 for non-geographic numbers, or a calling code such as \"+44\""
            )
        })?;
        self.regions.push(region);
        Ok(())
    }

    /// Whether the number's calling code is in the set, or the region that claims it.
    pub fn contains(&self, number: &PhoneNumber) -> bool {
        self.calling_codes.contains(&number.calling_code())
            || number.region().is_some_and(|r| self.regions.contains(&r))
    }

    /// True when the set holds no region and no calling code.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty() && self.calling_codes.is_empty()
    }
}
