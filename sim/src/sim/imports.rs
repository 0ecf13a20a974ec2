//! The site's trust imports: the numbers its records hold as verified, sent to the guard in batches.

use std::net::IpAddr;

use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Action;

use super::{hours_ms, Wake, World};

impl World<'_> {
    /// Schedules the site's imports of the numbers its records hold, in batches, before the
    /// warm-up and the period.
    pub(super) fn schedule_imports(&mut self) {
        let Some(model) = self.mix.trust_import.clone() else { return };
        let before = hours_ms(self.mix.legit.warm_up_hours) + hours_ms(model.hours_before);
        let at = self.mix.start_ms.saturating_sub(before);
        let known = std::mem::take(&mut self.known);
        for batch in known.chunks(model.batch.max(1)) {
            self.schedule(at, Wake::Import(batch.to_vec()));
        }
    }

    /// One import request; the guard must answer it itself (`answer`, 200), or the run stops:
    /// a policy without `trust_import`, or another token, would otherwise measure no import.
    pub(super) fn import(&mut self, numbers: &[String], now: u64) -> Result<(), String> {
        let Some(model) = &self.mix.trust_import else { return Ok(()) };
        let record = TrafficRecord {
            at_ms: now,
            client_ip: Some(IpAddr::from([192, 0, 2, 10])),
            method: "POST".to_owned(),
            host: self.mix.host.clone(),
            path: model.path.clone(),
            version: Some("HTTP/1.1".to_owned()),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("authorization".to_owned(), format!("Bearer {}", model.token)),
            ],
            body: Some(crate::known_numbers::ImportModel::body(numbers)),
            body_hex: None,
            tls: None,
            edge: None,
            response_status: None,
            response_headers: Vec::new(),
            response_body: None,
        };
        let got = self.guard.judge(&record)?;
        if got.action != Some(Action::Answer) || got.status != 200 {
            return Err(format!(
                "trust_import: the guard answered the import at {} with {} {:?} (error {:?}); \
                 the policy needs a trust_import section with this path and the token's SHA-256",
                model.path, got.status, got.action, got.error
            ));
        }
        Ok(())
    }
}
