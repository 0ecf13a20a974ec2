//! Region codes (CLDR two-letter codes, plus "001" for non-geographic calling codes).

use super::tables::{self, REGION_CODES, REGION_TERRITORY, TERRITORY_REGIONS};

/// A region known to the metadata. Ordered like its code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(pub(super) u16);

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

/// libphonenumber's region code for non-geographic calling codes (+800, +808, +870, ...).
const NON_GEOGRAPHIC: &str = "001";

impl Region {
    /// Looks up a region code such as "US", "gb" or "001".
    pub fn from_code(code: &str) -> Option<Region> {
        let code = code.as_bytes();
        if !(2..=3).contains(&code.len()) {
            return None;
        }
        REGION_CODES
            .binary_search_by(|probe| {
                let probe = probe.as_bytes().iter().copied();
                probe.cmp(code.iter().map(u8::to_ascii_uppercase))
            })
            .ok()
            .and_then(|index| u16::try_from(index).ok())
            .map(Region)
    }

    /// The canonical upper-case code, e.g. "US" or "001".
    pub fn as_str(self) -> &'static str {
        REGION_CODES.get(usize::from(self.0)).copied().unwrap_or("ZZ")
    }

    /// The region's country calling code; 0 for "001", which spans several calling codes
    /// (libphonenumber's `getCountryCodeForRegion` does the same).
    pub fn calling_code(self) -> u16 {
        self.territory().map_or(0, |t| t.calling_code)
    }

    pub(super) fn is_non_geographic(self) -> bool {
        self.as_str() == NON_GEOGRAPHIC
    }

    /// Metadata of a geographic region; `None` for "001".
    pub(super) fn territory_index(self) -> Option<usize> {
        if self.is_non_geographic() {
            return None;
        }
        REGION_TERRITORY.get(usize::from(self.0)).map(|&t| usize::from(t))
    }

    fn territory(self) -> Option<&'static tables::Territory> {
        self.territory_index().and_then(tables::territory)
    }
}

/// Regions using a calling code, main country first (e.g. 44 → GB, GG, IM, JE); empty if the
/// code is unassigned.
pub fn regions_for_calling_code(calling_code: u16) -> &'static [Region] {
    TERRITORY_REGIONS.get(tables::territories_for_calling_code(calling_code)).unwrap_or(&[])
}
