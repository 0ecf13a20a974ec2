//! A parsed phone number and its classification (region, type, validity).

use super::parse::Parsed;
use super::region::Region;
use super::tables::{self, Territory};
use super::NumberType;

/// '+', up to 3 calling-code digits and up to 17 national digits.
const E164_CAPACITY: usize = 21;

/// A phone number in E.164 form with its libphonenumber classification. Stored inline.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: [u8; E164_CAPACITY],
    len: u8,
    calling_code_len: u8,
    calling_code: u16,
    region: Option<Region>,
    number_type: NumberType,
}

impl PhoneNumber {
    pub(super) fn classify(parsed: &Parsed) -> PhoneNumber {
        let national = parsed.national.as_slice();
        let mut e164 = [0u8; E164_CAPACITY];
        let mut len = 0;
        let mut push = |byte: u8| {
            if let Some(slot) = e164.get_mut(len) {
                *slot = byte;
                len += 1;
            }
        };
        push(b'+');
        let code = parsed.calling_code;
        let calling_code_len: u8 = if code >= 100 {
            3
        } else if code >= 10 {
            2
        } else {
            1
        };
        for power in (0..calling_code_len).rev() {
            push(b'0' + (code / 10u16.pow(u32::from(power)) % 10) as u8);
        }
        national.iter().for_each(|&d| push(d));
        let (territory, number_type) = territory_for_number(code, national);
        PhoneNumber {
            e164,
            len: len as u8,
            calling_code_len,
            calling_code: code,
            region: territory.map(|t| t.region),
            number_type,
        }
    }

    fn text(&self, from: usize) -> &str {
        let bytes = self.e164.get(from..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// "+14155550123".
    pub fn e164(&self) -> &str {
        self.text(0)
    }

    /// "14155550123": the E.164 form without '+'.
    pub fn digits(&self) -> &str {
        self.text(1)
    }

    /// The national significant number, "4155550123"; leading zeros are kept (Italy: "06...").
    pub fn national_number(&self) -> &str {
        self.text(1 + usize::from(self.calling_code_len))
    }

    /// The country calling code, `1` for "+14155550123".
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// libphonenumber's `getRegionCodeForNumber`: the only region of the calling code, else
    /// the first whose leading digits or number patterns fit; "001" for non-geographic codes.
    pub fn region(&self) -> Option<Region> {
        self.region
    }

    /// libphonenumber's `getNumberType`; `Unknown` for invalid numbers.
    pub fn number_type(&self) -> NumberType {
        self.number_type
    }

    /// libphonenumber's `isValidNumber`.
    pub fn is_valid(&self) -> bool {
        self.number_type != NumberType::Unknown
    }
}

impl core::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("e164", &self.e164())
            .field("region", &self.region.map(Region::as_str))
            .field("number_type", &self.number_type)
            .finish()
    }
}

fn number_type(territory: &Territory, national: &[u8]) -> NumberType {
    let code = tables::number_type_code(territory, national);
    match code.checked_sub(1) {
        Some(index) => NumberType::ALL.get(usize::from(index)).copied().unwrap_or(NumberType::Unknown),
        None => NumberType::Unknown,
    }
}

/// libphonenumber's `getRegionCodeForNumber` (via `getRegionCodeForNumberFromRegionList` for
/// shared calling codes), with the number's type in that region.
fn territory_for_number(calling_code: u16, national: &[u8]) -> (Option<&'static Territory>, NumberType) {
    let range = tables::territories_for_calling_code(calling_code);
    if range.len() == 1 {
        let territory = tables::territory(range.start);
        return (territory, territory.map_or(NumberType::Unknown, |t| number_type(t, national)));
    }
    for territory in range.filter_map(tables::territory) {
        match territory.leading_digits {
            Some(start) if tables::matches_prefix(start, national) => {
                return (Some(territory), number_type(territory, national));
            }
            Some(_) => {}
            None => {
                let kind = number_type(territory, national);
                if kind != NumberType::Unknown {
                    return (Some(territory), kind);
                }
            }
        }
    }
    (None, NumberType::Unknown)
}
