//! What the engine tells about its channels: each one's health (for
//! `nudge status`, `nudge doctor` and the TUI header) and the alerts when
//! one goes down, stays down or comes back. The worker owns the breakers
//! (`domain::breaker`) and publishes here.

use chrono::{DateTime, Utc};

use super::{Alert, Engine};
use crate::domain::breaker::Health;
use crate::domain::sequence::Channel;

/// One channel's health as `nudge status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelStatus {
    /// The channel.
    pub channel: Channel,
    /// Live, dry-run, down or paused for credentials.
    pub health: Health,
    /// Due touches waiting for it (counted at the worker's last pass).
    pub waiting: usize,
}

impl ChannelStatus {
    /// "email: down since 2026-03-02 09:00 UTC: … (12 touches waiting)".
    pub fn describe(&self) -> String {
        let mut line = format!("{}: {}", self.channel, self.health.describe());
        if self.health.is_holding() {
            line.push_str(&format!(
                " ({} touch{} waiting)",
                self.waiting,
                if self.waiting == 1 { "" } else { "es" }
            ));
        }
        line
    }
}

/// What happened to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAlertKind {
    /// It went down; touches wait.
    Down,
    /// It refused our credentials; paused until the config is fixed and
    /// `nudge serve` restarts.
    Paused,
    /// Still down after 15 minutes.
    StillDown,
    /// Back up; the backlog drains.
    Back,
}

impl ChannelAlertKind {
    /// Its name in webhooks (`channel_down`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelAlertKind::Down => "channel_down",
            ChannelAlertKind::Paused => "channel_paused",
            ChannelAlertKind::StillDown => "channel_still_down",
            ChannelAlertKind::Back => "channel_back",
        }
    }
}

/// An alert about a channel rather than a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAlert {
    /// What happened.
    pub kind: ChannelAlertKind,
    /// Which channel.
    pub channel: Channel,
    /// When.
    pub at: DateTime<Utc>,
    /// When it went down (for still-down and back).
    pub since: DateTime<Utc>,
    /// Touches waiting for the channel.
    pub waiting: usize,
    /// The error, for down and paused.
    pub detail: String,
}

impl ChannelAlert {
    /// One line for people: "email paused: the SMTP server refused the password".
    pub fn describe(&self) -> String {
        let minutes = (self.at - self.since).num_minutes();
        match self.kind {
            ChannelAlertKind::Down => format!(
                "{} is down; touches wait and no attempt is spent: {}",
                self.channel, self.detail
            ),
            ChannelAlertKind::Paused => format!(
                "{} paused: the server refused the credentials; fix the config and restart nudge serve ({})",
                self.channel, self.detail
            ),
            ChannelAlertKind::StillDown => format!(
                "{} still down after {minutes} min; {} touch{} waiting",
                self.channel,
                self.waiting,
                if self.waiting == 1 { "" } else { "es" }
            ),
            ChannelAlertKind::Back => format!(
                "{} is back after {minutes} min; sending the {} waiting touch{} in due order",
                self.channel,
                self.waiting,
                if self.waiting == 1 { "" } else { "es" }
            ),
        }
    }
}

/// What the alert subscribers hear: a lead's news or a channel's.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A reply, booking, hot lead, bounce or send in doubt.
    Lead(Box<Alert>),
    /// A channel went down, stayed down or came back.
    Channel(ChannelAlert),
}

impl Engine {
    /// Replaces what the engine says about its channels (the worker calls
    /// this whenever a breaker or a waiting count changes).
    pub fn set_channel_health(&self, channels: Vec<ChannelStatus>) {
        *self
            .channel_health
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = channels;
    }

    /// Each channel's health; empty when no worker runs in this process.
    pub fn channel_health(&self) -> Vec<ChannelStatus> {
        self.channel_health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Announces a channel alert to the webhooks (and logs it).
    pub fn channel_alert(&self, alert: ChannelAlert) {
        let line = alert.describe();
        match alert.kind {
            ChannelAlertKind::Back => tracing::info!("{line}"),
            _ => tracing::warn!("{line}"),
        }
        // A send error only means nobody listens.
        let _ = self.alerts.send(Notification::Channel(alert));
    }
}
