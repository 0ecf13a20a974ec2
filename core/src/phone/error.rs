//! Why an input is not a phone number.

/// Why `PhoneParser::parse` rejected an input. `as_str` codes are stable (logs, metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing but blanks and invisible characters.
    Empty,
    /// Letters, stray symbols, a malformed `tel:` URI, or too few digits to be a number at all.
    NotANumber,
    /// Too few digits for a number.
    TooShort,
    /// Too many digits, or over 1000 bytes of input.
    TooLong,
    /// International format, but no calling code is assigned to the leading digits.
    InvalidCallingCode,
    /// National format, but the policy sets no `default_region`.
    NoDefaultRegion,
}

impl PhoneError {
    /// The stable snake_case code, e.g. `too_short`.
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

    fn explanation(self) -> &'static str {
        match self {
            PhoneError::Empty => "the phone number is empty",
            PhoneError::NotANumber => {
                "the input is not a phone number (letters, stray symbols or too few digits)"
            }
            PhoneError::TooShort => "the phone number has too few digits",
            PhoneError::TooLong => "the phone number has too many digits",
            PhoneError::InvalidCallingCode => "the international number has no valid country calling code",
            PhoneError::NoDefaultRegion => {
                "the number has no country calling code and no default region is configured"
            }
        }
    }
}

impl core::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.explanation())
    }
}

impl std::error::Error for PhoneError {}
