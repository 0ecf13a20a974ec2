//! E.164 normalisation and number classification, table-driven.
//!
//! Behaves like libphonenumber's `parse` + `getRegionCodeForNumber` + `getNumberType` +
//! `isValidNumber` on its metadata ([`METADATA_VERSION`], committed in `core/metadata/`), but
//! the request path runs no regex engine and decodes nothing: `build.rs` compiles every
//! metadata pattern into static digit automata (see `tables`). About 240 KB of tables; one parse is a
//! few hundred instructions.
//!
//! Pipeline: `normalize` (input text → ASCII digits) → `parse` (international prefix, calling
//! code, national prefix) → `number` (region, type, validity).
//!
//! # Differences from the `phonenumber` crate
//!
//! That crate was the reference, but it departs from libphonenumber in ways that matter for
//! real numbers (an Indian mobile "91..." loses its first two digits, "+86 138..." parsed with
//! default region US loses its "1", Russian "8 800" toll-free numbers lose their 8, Italian
//! fixed lines have type unknown, ...). We follow libphonenumber instead; every difference is
//! one of the bugs listed (and reproduced by a model) in `tests/phone_support/crate_model.rs`,
//! and `tests/phone_oracle.rs` checks us against a regex-based transcription of
//! libphonenumber. Our input handling also differs from both, on purpose:
//!
//! - Letters are never accepted (except `tel:` and extension labels): no vanity-number
//!   conversion, no skipping of leading text such as "Phone:". They give `NotANumber`.
//! - Any Unicode decimal digit is a digit (the crate rejects all but ASCII).
//! - Any whitespace and invisible formatting character (zero-width space, bidi marks, BOM) is
//!   ignored, like the punctuation libphonenumber ignores; `x` and `~` only mark extensions.
//! - The non-geographic region "001" is a region of numbers (+800, ...) but not a default:
//!   `PhoneParser::new(Some(001))` behaves as `new(None)`, and its `calling_code()` is 0.
//! - At most 1000 bytes and 64 digits of input (`TooLong` beyond).

mod digits;
pub(crate) use digits::ascii_digit;
mod error;
mod normalize;
mod number;
mod parse;
mod region;
mod tables;

pub use error::PhoneError;
pub use number::PhoneNumber;
pub use region::{regions_for_calling_code, Region};

/// The libphonenumber metadata release the tables are built from (`core/metadata/VERSION`,
/// refreshed with the XML by scripts/update_metadata.py).
pub const METADATA_VERSION: &str = env!("PUMPGUARD_PHONE_METADATA_VERSION");

/// libphonenumber's number types.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    /// A landline.
    FixedLine,
    /// A mobile number.
    Mobile,
    /// Either: the region does not tell them apart (the US, Canada).
    FixedLineOrMobile,
    /// Free to the caller.
    TollFree,
    /// Charged above normal rates, part of it paid to the number's owner.
    PremiumRate,
    /// Cost split between caller and recipient.
    SharedCost,
    /// Voice over IP.
    Voip,
    /// Forwarded to a number of the owner's choice (UK `070`).
    PersonalNumber,
    /// A pager.
    Pager,
    /// Universal access number: one number for a company, routed to its offices.
    Uan,
    /// Direct access to a voicemail box.
    Voicemail,
    /// No type matched: the number is not valid.
    Unknown,
}

impl NumberType {
    /// Every type; the generated tables rely on this order.
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

    /// The snake_case name, as serialised.
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

/// Parses user input into E.164 for one configured default region. Cheap to create and to
/// share; holds no tables of its own.
#[derive(Clone, Copy, Debug)]
pub struct PhoneParser {
    default_territory: Option<usize>,
}

impl PhoneParser {
    /// `default_region` is the region assumed for numbers written without a calling code.
    /// "001" is not a region numbers can be written in, so it counts as no default (as in
    /// libphonenumber).
    pub fn new(default_region: Option<Region>) -> PhoneParser {
        PhoneParser { default_territory: default_region.and_then(Region::territory_index) }
    }

    /// Parses `raw` as typed by a user: any Unicode decimal digits, common separators, a
    /// leading '+' or the default region's international prefix, a national prefix, an
    /// extension (ignored) or a `tel:` URI. Numbers that are not valid still parse when they
    /// have a calling code and a plausible length; check [`PhoneNumber::is_valid`].
    pub fn parse(&self, raw: &str) -> Result<PhoneNumber, PhoneError> {
        let scanned = normalize::scan(raw)?;
        let default = self.default_territory.and_then(tables::territory);
        let parsed = parse::parse(&scanned, default)?;
        Ok(PhoneNumber::classify(&parsed))
    }
}

#[cfg(test)]
mod tests;
