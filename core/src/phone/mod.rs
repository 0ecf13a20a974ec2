//! TEMPORARY stub over the `phonenumber` crate, replaced by the table-driven fast path.
#![allow(clippy::unwrap_used)]

use phonenumber::metadata::DATABASE;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberType {
    pub const ALL: [NumberType; 12] = [
        NumberType::FixedLine,
        NumberType::Mobile,
        NumberType::FixedLineOrMobile,
        NumberType::TollFree,
        NumberType::PremiumRate,
        NumberType::SharedCost,
        NumberType::Voip,
        NumberType::PersonalNumber,
        NumberType::Pager,
        NumberType::Uan,
        NumberType::Voicemail,
        NumberType::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::FixedLine => "fixed_line",
            NumberType::Mobile => "mobile",
            NumberType::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberType::TollFree => "toll_free",
            NumberType::PremiumRate => "premium_rate",
            NumberType::SharedCost => "shared_cost",
            NumberType::Voip => "voip",
            NumberType::PersonalNumber => "personal_number",
            NumberType::Pager => "pager",
            NumberType::Uan => "uan",
            NumberType::Voicemail => "voicemail",
            NumberType::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(&'static str);
impl Region {
    pub fn from_code(code: &str) -> Option<Region> {
        let up = code.to_ascii_uppercase();
        DATABASE.by_id(up.as_str()).map(|m| Region(m.id()))
    }
    pub fn as_str(self) -> &'static str {
        self.0
    }
    pub fn calling_code(self) -> u16 {
        DATABASE.by_id(self.0).map(|m| m.country_code()).unwrap_or(0)
    }
}
pub fn regions_for_calling_code(cc: u16) -> &'static [Region] {
    if DATABASE.by_code(&cc).is_some() {
        &[Region("XX")]
    } else {
        &[]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: String,
    national: String,
    cc: u16,
    region: Option<Region>,
    ty: NumberType,
    valid: bool,
}
impl PhoneNumber {
    pub fn e164(&self) -> &str {
        &self.e164
    }
    pub fn digits(&self) -> &str {
        &self.e164[1..]
    }
    pub fn national_number(&self) -> &str {
        &self.national
    }
    pub fn calling_code(&self) -> u16 {
        self.cc
    }
    pub fn region(&self) -> Option<Region> {
        self.region
    }
    pub fn number_type(&self) -> NumberType {
        self.ty
    }
    pub fn is_valid(&self) -> bool {
        self.valid
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneError {
    Empty,
    NotANumber,
    TooShort,
    TooLong,
    InvalidCallingCode,
    NoDefaultRegion,
}
impl PhoneError {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneError::Empty => "empty",
            PhoneError::NotANumber => "not_a_number",
            PhoneError::TooShort => "too_short",
            PhoneError::TooLong => "too_long",
            PhoneError::InvalidCallingCode => "invalid_calling_code",
            PhoneError::NoDefaultRegion => "no_default_region",
        }
    }
}
impl core::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
pub struct PhoneParser {
    default: Option<phonenumber::country::Id>,
}
impl PhoneParser {
    pub fn new(default_region: Option<Region>) -> PhoneParser {
        PhoneParser { default: default_region.and_then(|r| r.0.parse().ok()) }
    }
    pub fn parse(&self, raw: &str) -> Result<PhoneNumber, PhoneError> {
        let cleaned: String = raw
            .trim_start_matches("tel:")
            .chars()
            .map(|c| {
                if ('\u{FF10}'..='\u{FF19}').contains(&c) {
                    char::from(b'0' + (c as u32 - 0xFF10) as u8)
                } else {
                    c
                }
            })
            .collect();
        if cleaned.trim().is_empty() {
            return Err(PhoneError::Empty);
        }
        let n = phonenumber::parse(self.default, &cleaned).map_err(|_| PhoneError::NotANumber)?;
        let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
        let ty = match n.number_type(&DATABASE) {
            phonenumber::Type::FixedLine => NumberType::FixedLine,
            phonenumber::Type::Mobile => NumberType::Mobile,
            phonenumber::Type::FixedLineOrMobile => NumberType::FixedLineOrMobile,
            phonenumber::Type::TollFree => NumberType::TollFree,
            phonenumber::Type::PremiumRate => NumberType::PremiumRate,
            phonenumber::Type::SharedCost => NumberType::SharedCost,
            phonenumber::Type::Voip => NumberType::Voip,
            phonenumber::Type::PersonalNumber => NumberType::PersonalNumber,
            phonenumber::Type::Pager => NumberType::Pager,
            phonenumber::Type::Uan => NumberType::Uan,
            phonenumber::Type::Voicemail => NumberType::Voicemail,
            _ => NumberType::Unknown,
        };
        let region = n.country().id().and_then(|id| Region::from_code(id.as_ref()));
        let cc = n.code().value();
        let national = e164[1 + cc.to_string().len()..].to_string();
        Ok(PhoneNumber { valid: n.is_valid(), e164, national, cc, region, ty })
    }
}
