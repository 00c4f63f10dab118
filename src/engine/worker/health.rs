//! The worker's side of channel health: one breaker per live channel
//! (`domain::breaker`), tripped by [`SendError::Unavailable`], probed on a
//! backoff while open, and published to the engine for `nudge status` and
//! the alerts.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Unflushed, Worker};
use crate::channels::{SendError, Transport};
use crate::domain::breaker::{Breaker, Notice};
use crate::domain::sequence::Channel;
use crate::engine::{ChannelAlert, ChannelAlertKind, ChannelStatus};

/// The breakers and how many due touches wait on each channel.
#[derive(Default)]
pub(super) struct Breakers {
    /// One per channel with a transport.
    pub(super) by_channel: HashMap<Channel, Breaker>,
    /// Due touches held back at the last pass, per channel.
    pub(super) waiting: HashMap<Channel, usize>,
}

impl Worker {
    /// The transport for `channel`, `None` for tasks (and calls in task mode).
    pub(super) fn transport(&self, channel: Channel) -> Option<Arc<dyn Transport>> {
        match channel {
            Channel::Email => Some(self.channels.email.clone()),
            Channel::Sms => Some(self.channels.sms.clone()),
            Channel::Call => self.channels.call.clone(),
            Channel::Task => None,
        }
    }

    /// Whether touches on `channel` wait (its breaker is open).
    pub(super) fn is_held(&self, channel: Channel) -> bool {
        self.breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_channel
            .get(&channel)
            .is_some_and(Breaker::is_open)
    }

    /// A send found `channel` unusable: open its breaker at once (the
    /// next claims wait). The notice is told after the group flush, with
    /// the touch's own outcome.
    pub(super) fn channel_down(
        &self,
        channel: Channel,
        reason: &str,
        credentials: bool,
        unflushed: &mut Unflushed,
    ) {
        let now = self.engine.now();
        if let Some(notice) = self.with_breaker(channel, |b| b.trip(now, reason, credentials)) {
            unflushed.notices.push((channel, notice, now));
        }
    }

    /// A live send went through on `channel`: it works, whatever a breaker
    /// opened by an earlier failure says.
    pub(super) fn channel_up(&self, channel: Channel, unflushed: &mut Unflushed) {
        if !self.is_held(channel) {
            return;
        }
        let now = self.engine.now();
        if let Some(notice) = self.with_breaker(channel, Breaker::succeeded) {
            unflushed.notices.push((channel, notice, now));
        }
    }

    /// Records how many due touches the last pass held back per channel.
    pub(super) fn set_waiting(&self, waiting: HashMap<Channel, usize>) {
        let changed = {
            let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            let changed = breakers.waiting != waiting;
            breakers.waiting = waiting;
            changed
        };
        if changed {
            self.publish();
        }
    }

    /// Probes every open breaker whose probe is due and tells the founder
    /// about channels still down after 15 minutes. Called by `run` before
    /// each pass; tests call it directly with a manual clock.
    pub async fn check_channels(&self) {
        let now = self.engine.now();
        let channels: Vec<(Channel, bool, Option<Notice>)> = {
            let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            breakers
                .by_channel
                .iter_mut()
                .filter(|(_, b)| b.is_open())
                .map(|(c, b)| {
                    let probe = b.probe_at().is_some_and(|at| at <= now);
                    (*c, probe, b.still_down(now))
                })
                .collect()
        };
        for (channel, probe, still_down) in channels {
            self.tell(channel, still_down, now);
            let Some(transport) = self.transport(channel).filter(|_| probe) else {
                continue;
            };
            let result = transport.probe().await;
            let now = self.engine.now();
            let notice = self.with_breaker(channel, |b| match &result {
                Ok(()) => b.succeeded(),
                Err(SendError::Unavailable {
                    reason,
                    credentials,
                }) => b.probe_failed(now, reason, *credentials),
                Err(other) => b.probe_failed(now, &other.to_string(), false),
            });
            if let Err(e) = &result {
                tracing::info!(%channel, error = %e, "channel still unavailable");
            }
            self.tell(channel, notice, now);
        }
    }

    /// When the breakers next need the worker (a probe or a reminder).
    pub(super) fn next_channel_check(&self) -> Option<DateTime<Utc>> {
        self.breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_channel
            .values()
            .filter_map(Breaker::next_check)
            .min()
    }

    /// Touches held back at the last pass, all channels together.
    pub(super) fn waiting_total(&self) -> usize {
        self.breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .values()
            .sum()
    }

    fn with_breaker<T>(
        &self,
        channel: Channel,
        f: impl FnOnce(&mut Breaker) -> Option<T>,
    ) -> Option<T> {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers.by_channel.get_mut(&channel).and_then(f)
    }

    /// Publishes the health and turns a breaker's notice into an alert.
    pub(super) fn tell(&self, channel: Channel, notice: Option<Notice>, now: DateTime<Utc>) {
        self.publish();
        let Some(notice) = notice else {
            return;
        };
        let waiting = self
            .breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .get(&channel)
            .copied()
            .unwrap_or(0);
        match &notice {
            Notice::Down {
                credentials: false, ..
            } => self.remember(channel, Some(now)),
            Notice::Back { .. } => self.remember(channel, None),
            _ => {}
        }
        let (kind, since, detail) = match notice {
            Notice::Down {
                reason,
                credentials,
            } => (
                if credentials {
                    ChannelAlertKind::Paused
                } else {
                    ChannelAlertKind::Down
                },
                now,
                reason,
            ),
            Notice::StillDown { since } => (ChannelAlertKind::StillDown, since, String::new()),
            Notice::Back { since } => (ChannelAlertKind::Back, since, String::new()),
        };
        self.engine.channel_alert(ChannelAlert {
            kind,
            channel,
            at: now,
            since,
            waiting,
            detail,
        });
        if kind == ChannelAlertKind::Back {
            // The backlog is due now: look at it at once.
            self.engine.wake_signal().notify_one();
        }
    }

    /// Tells the engine each channel's health and waiting count.
    pub(super) fn publish(&self) {
        let statuses = {
            let breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            let mut statuses: Vec<ChannelStatus> = breakers
                .by_channel
                .iter()
                .map(|(channel, b)| ChannelStatus {
                    channel: *channel,
                    health: b.health(),
                    waiting: breakers.waiting.get(channel).copied().unwrap_or(0),
                })
                .collect();
            statuses.sort_by_key(|s| s.channel.to_string());
            statuses
        };
        self.engine.set_channel_health(statuses);
    }

    /// A breaker for every channel that has a transport; a live channel
    /// that was down when nudge stopped starts open and probes first, so a
    /// restart during an outage claims nothing and alerts nothing new.
    pub(super) fn initial_breakers(
        engine: &crate::engine::Engine,
        channels: &super::Channels,
    ) -> Breakers {
        let now = engine.now();
        let mut by_channel = HashMap::new();
        let mut add = |channel: Channel, live: bool| {
            let since = live
                .then(|| engine.store().channel_down_since(channel.as_str()))
                .and_then(|read| {
                    read.unwrap_or_else(|e| {
                        tracing::warn!(%channel, error = %e, "cannot read the channel's last state");
                        None
                    })
                });
            let breaker = match since {
                Some(since) => Breaker::resume(since, now),
                None => Breaker::new(live),
            };
            by_channel.insert(channel, breaker);
        };
        add(Channel::Email, channels.email.is_live());
        add(Channel::Sms, channels.sms.is_live());
        if let Some(call) = &channels.call {
            add(Channel::Call, call.is_live());
        }
        Breakers {
            by_channel,
            waiting: HashMap::new(),
        }
    }

    /// Remembers an outage across restarts (credentials refusals are not
    /// kept: a restart is how the founder says the config is fixed).
    fn remember(&self, channel: Channel, since: Option<DateTime<Utc>>) {
        if let Err(e) = self
            .engine
            .store()
            .set_channel_down(channel.as_str(), since)
        {
            tracing::warn!(%channel, error = %e, "cannot record the channel's state");
        }
    }
}
