//! What an SMS to each country costs: a table kept in the repository (`sim/data/sms_prices.json`,
//! estimates) or the operator's own.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Per-country SMS prices.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Currency code of every price.
    pub currency: String,
    /// Where the figures come from.
    #[serde(default)]
    pub note: String,
    /// Price for a country not in `prices`.
    pub default: f64,
    /// Price per ISO region.
    pub prices: BTreeMap<String, f64>,
}

/// The repository's estimates.
pub const BUILT_IN: &str = include_str!("../data/sms_prices.json");

impl Prices {
    /// Parses a price table; the error names what is wrong.
    pub fn from_json(text: &str) -> Result<Prices, String> {
        let prices: Prices = serde_json::from_str(text).map_err(|e| format!("price table: {e}"))?;
        if let Some((country, price)) = prices.prices.iter().find(|(_, p)| !(p.is_finite() && **p >= 0.0)) {
            return Err(format!("price table: prices.{country}: {price} is not a price"));
        }
        Ok(prices)
    }

    /// The built-in estimates.
    pub fn built_in() -> Prices {
        Prices::from_json(BUILT_IN).unwrap_or(Prices {
            currency: "USD".into(),
            note: String::new(),
            default: 0.1,
            prices: BTreeMap::new(),
        })
    }

    /// The price of one SMS to `country` (the default when unknown).
    pub fn of(&self, country: Option<&str>) -> f64 {
        country.and_then(|c| self.prices.get(c)).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_loads() {
        let p = Prices::from_json(BUILT_IN).unwrap();
        assert!(p.of(Some("GB")) > p.of(Some("US")));
        assert_eq!(p.of(Some("ZZ")), p.default);
        assert!(Prices::from_json(r#"{"currency":"USD","default":0.1,"prices":{"US":-1}}"#).is_err());
    }
}
