//! The worker's limits and message furniture, and the pacer that spaces
//! send starts.

use std::collections::{HashMap, VecDeque};
use std::time::Duration as StdDuration;

use tokio::time::Instant;

use crate::domain::sequence::Channel;

/// Limits and message furniture from the config.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Due entries claimed per pass.
    pub batch: usize,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Minimum time between two send starts.
    pub min_gap: StdDuration,
    /// Most send starts per minute; 0 means no limit.
    pub rate_per_minute: u64,
    /// Live sends per UTC day per channel; 0 or absent means no cap.
    pub daily_caps: HashMap<Channel, u64>,
    /// Domain for Message-IDs (from the `from` address).
    pub message_id_domain: String,
    /// Postal address for the email footer.
    pub postal_address: String,
    /// Public base URL and secret for signed unsubscribe links.
    pub unsubscribe: Option<(String, Vec<u8>)>,
    /// `mailto:` target for List-Unsubscribe.
    pub unsubscribe_mailto: Option<String>,
    /// Track opens and clicks: rewrite email links to the signed click
    /// redirect and add the open pixel to HTML alternatives. Uses the base
    /// URL and secret of `unsubscribe`, so it needs them.
    pub tracking: bool,
    /// Pace sends in real time (off for simulations on a manual clock).
    pub pace: bool,
}

impl WorkerOptions {
    /// Limits and message furniture as `nudge serve` derives them from the
    /// config: caps, pacing, the Message-ID domain (from `[email] from`), the
    /// postal address and signed unsubscribe links.
    pub fn from_config(config: &crate::config::Config) -> WorkerOptions {
        let from = &config.email.from;
        let address = from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(from)
            .trim();
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "nudge.invalid".to_string());
        let reply = config
            .email
            .reply_to
            .clone()
            .unwrap_or_else(|| address.to_string());
        let unsubscribe = (!config.server.public_url.trim().is_empty()
            && !config.server.link_secret.is_empty())
        .then(|| {
            (
                config.server.public_url.trim().to_string(),
                config.server.link_secret.expose().as_bytes().to_vec(),
            )
        });
        let mut daily_caps = std::collections::HashMap::new();
        daily_caps.insert(Channel::Email, config.email.daily_cap);
        daily_caps.insert(Channel::Sms, config.sms.daily_cap);
        WorkerOptions {
            min_gap: StdDuration::from_secs(config.engine.min_gap_secs),
            concurrency: config.engine.concurrency.clamp(1, 256) as usize,
            rate_per_minute: config.engine.rate_per_minute,
            daily_caps,
            message_id_domain: domain,
            postal_address: config.email.postal_address.clone(),
            tracking: unsubscribe.is_some() && config.server.tracking,
            unsubscribe,
            unsubscribe_mailto: reply
                .contains('@')
                .then(|| format!("mailto:{reply}?subject=unsubscribe")),
            ..WorkerOptions::default()
        }
    }
}

impl std::fmt::Debug for WorkerOptions {
    /// Everything but the link secret, which signs unsubscribe and tracking
    /// tokens and must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("batch", &self.batch)
            .field("concurrency", &self.concurrency)
            .field("min_gap", &self.min_gap)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("daily_caps", &self.daily_caps)
            .field("message_id_domain", &self.message_id_domain)
            .field("postal_address", &self.postal_address)
            .field(
                "unsubscribe",
                &self.unsubscribe.as_ref().map(|(base, _)| (base, "***")),
            )
            .field("unsubscribe_mailto", &self.unsubscribe_mailto)
            .field("tracking", &self.tracking)
            .field("pace", &self.pace)
            .finish()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            batch: 64,
            concurrency: 8,
            min_gap: StdDuration::ZERO,
            rate_per_minute: 0,
            daily_caps: HashMap::new(),
            message_id_domain: "nudge.invalid".into(),
            postal_address: String::new(),
            unsubscribe: None,
            unsubscribe_mailto: None,
            tracking: false,
            pace: true,
        }
    }
}

/// Spaces send starts by `min_gap` and at most `rate_per_minute`.
pub(super) struct Pacer {
    pub(super) min_gap: StdDuration,
    pub(super) rate_per_minute: usize,
    pub(super) recent: VecDeque<Instant>,
}

impl Pacer {
    pub(super) async fn wait_turn(&mut self) {
        let now = Instant::now();
        let mut at = now;
        if let Some(&last) = self.recent.back() {
            at = at.max(last + self.min_gap);
        }
        let window_start = self.recent.len().checked_sub(self.rate_per_minute);
        if let Some(&oldest) = window_start
            .filter(|_| self.rate_per_minute > 0)
            .and_then(|i| self.recent.get(i))
        {
            at = at.max(oldest + StdDuration::from_secs(60));
        }
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        self.recent.push_back(at);
        let keep = self.rate_per_minute.max(1);
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_link_secret() {
        let options = WorkerOptions {
            unsubscribe: Some(("https://nudge.example.com".into(), b"s3cr3t-key".to_vec())),
            ..WorkerOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(shown.contains("https://nudge.example.com"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        // Nor as the bytes a derived Debug would print.
        let bytes = format!("{:?}", b"s3cr3t-key".to_vec());
        assert!(!shown.contains(bytes.trim_matches(['[', ']'])), "{shown}");
    }
}
