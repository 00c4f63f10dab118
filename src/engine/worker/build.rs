//! Building a touch: rendering, personalisation, the compliance footer,
//! threading headers, tracked links and the HTML alternative. The result is
//! stored, so a retry sends exactly these words.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Worker, address};
use crate::channels::Transport;
use crate::domain::lead::{Due, Lead};
use crate::domain::links::{self, LinkRef};
use crate::domain::render::{Message, render_step, text_to_html, text_to_html_with};
use crate::domain::sequence::{Channel, Sequence};
use crate::domain::touch::{self, Touch, TouchState};
use crate::domain::tracking;
use crate::engine::EngineError;

/// Rewrites a rendered message for one lead (the LLM); failures fall back to
/// the plain template.
#[async_trait::async_trait]
pub trait Personaliser: Send + Sync {
    /// The rewritten message, or why it could not be rewritten.
    async fn personalise(
        &self,
        sequence: &Sequence,
        step: usize,
        lead: &Lead,
        message: &Message,
    ) -> Result<Message, String>;
}

/// Where each channel's touches go.
pub struct Channels {
    /// Email transport (SMTP or dry-run).
    pub email: Arc<dyn Transport>,
    /// SMS transport (Twilio or dry-run).
    pub sms: Arc<dyn Transport>,
    /// Call transport; `None` means calls are tasks for the human.
    pub call: Option<Arc<dyn Transport>>,
    /// LLM personalisation, when configured.
    pub personaliser: Option<Arc<dyn Personaliser>>,
}

impl Worker {
    /// Renders (and maybe personalises) the touch, adds the compliance footer
    /// and threading headers. The result is stored, so retries reuse it.
    pub(super) async fn build_touch(
        &self,
        lead: &Lead,
        seq: &Sequence,
        due: &Due,
        transport: &dyn Transport,
        now: DateTime<Utc>,
    ) -> Result<Touch, String> {
        let step_index = due.step as usize;
        let settings = self.engine.settings();
        let mut message = render_step(seq, step_index, lead, &settings.sender)
            .map_err(|e| format!("cannot render: {e}"))?;
        let mut ai_note = None;
        if seq.steps[step_index].ai {
            ai_note = Some(match &self.channels.personaliser {
                Some(ai) => match ai.personalise(seq, step_index, lead, &message).await {
                    Ok(rewritten) => {
                        message = rewritten;
                        "personalised".to_string()
                    }
                    Err(e) => format!("plain template sent: {e}"),
                },
                None => "plain template sent: no LLM configured".to_string(),
            });
        }
        let to = address(lead, due.channel)
            .ok_or_else(|| format!("lead has no address for {}", due.channel))?;
        let mut touch = Touch {
            lead_id: lead.id,
            step: due.step,
            step_id: due.step_id.clone(),
            channel: due.channel,
            state: TouchState::Pending,
            attempts: 0,
            to,
            to_name: lead.name.clone(),
            message,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            list_unsubscribe: Vec::new(),
            html: None,
            links: Vec::new(),
            dry_run: !transport.is_live(),
            ai_note,
            last_error: None,
            provider_id: None,
            created_at: now,
            updated_at: now,
        };
        if due.channel == Channel::Email {
            let own_subject = seq.steps[step_index].subject.is_some();
            self.add_email_furniture(&mut touch, own_subject)
                .map_err(|e| e.to_string())?;
            let step = &seq.steps[step_index];
            let authored = tracking::authored_links(&step.body, &settings.sender);
            self.add_tracking_and_html(&mut touch, step.html, &authored);
        }
        Ok(touch)
    }

    /// With tracking on, rewrites the body's `authored` links (never the
    /// unsubscribe link, never a link a lead's own values brought in) to
    /// signed click redirects, remembering the originals on the touch, and
    /// puts the open pixel in the HTML alternative. Builds the HTML
    /// alternative when the step asks for one, tracked or not.
    fn add_tracking_and_html(&self, touch: &mut Touch, html: bool, authored: &[String]) {
        let Some((base, secret)) = self
            .options
            .unsubscribe
            .as_ref()
            .filter(|_| self.options.tracking)
        else {
            if html {
                touch.html = Some(text_to_html(&touch.message.body));
            }
            return;
        };
        let base = base.trim_end_matches('/');
        let unsubscribe = format!("{base}/u/");
        let (lead, step) = (touch.lead_id, touch.step);
        let sign = |purpose: &str, index: usize| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            links::sign_link(secret, purpose, LinkRef { lead, step, index })
        };
        let original = touch.message.body.clone();
        let tracked = tracking::tracked_links(&original, |url| {
            url.starts_with(&unsubscribe) || !authored.iter().any(|a| a == url)
        });
        let click = |index: usize| format!("{base}/c/{}", sign(tracking::CLICK, index));
        touch.message.body = tracking::rewrite_links(&original, &tracked, click);
        if html {
            let page = text_to_html_with(&original, |url| {
                match tracked.iter().position(|l| l == url) {
                    Some(index) => click(index),
                    None => url.to_string(),
                }
            });
            let pixel = format!("{base}/o/{}.gif", sign(tracking::OPEN, 0));
            touch.html = Some(tracking::add_pixel(&page, &pixel));
        }
        touch.links = tracked;
    }

    /// Footer (postal address, unsubscribe link), Message-ID and threading.
    /// Threading follows what was really sent: a step without its own
    /// subject replies to the first email the lead received, and starts its
    /// own thread (no `Re:`, no `In-Reply-To`) when none was.
    fn add_email_furniture(&self, touch: &mut Touch, own_subject: bool) -> Result<(), EngineError> {
        let opts = &self.options;
        let unsubscribe_url = opts.unsubscribe.as_ref().map(|(base, secret)| {
            format!(
                "{}/u/{}",
                base.trim_end_matches('/'),
                links::sign(secret, "unsubscribe", touch.lead_id)
            )
        });
        let mut footer = Vec::new();
        if !opts.postal_address.trim().is_empty() {
            footer.push(opts.postal_address.trim().to_string());
        }
        if let Some(url) = &unsubscribe_url {
            footer.push(format!("Unsubscribe: {url}"));
        }
        if !footer.is_empty() {
            touch.message.body = format!("{}\n\n{}", touch.message.body, footer.join("\n"));
        }
        touch.list_unsubscribe = unsubscribe_url
            .into_iter()
            .chain(opts.unsubscribe_mailto.clone())
            .collect();
        touch.message_id = Some(touch::message_id(
            touch.lead_id,
            touch.step,
            &opts.message_id_domain,
        ));
        let mut earlier: Vec<Touch> = self
            .engine
            .store()
            .touches(touch.lead_id)?
            .into_iter()
            .filter(|t| {
                // Only messages that really reached the lead (a dry-run
                // record never did, unless this one is dry too).
                t.channel == Channel::Email
                    && t.state == TouchState::Sent
                    && t.step < touch.step
                    && (!t.dry_run || touch.dry_run)
            })
            .collect();
        earlier.sort_by_key(|t| t.step);
        if let Some(subject) = touch.message.subject.take() {
            let root = earlier.first().and_then(|t| t.message.subject.as_deref());
            touch.message.subject = Some(touch::thread_subject(&subject, own_subject, root));
        }
        touch.references = earlier
            .iter()
            .filter_map(|t| t.message_id.clone())
            .collect();
        touch.in_reply_to = touch.references.first().cloned();
        Ok(())
    }
}

impl From<crate::channels::Transports> for Channels {
    fn from(t: crate::channels::Transports) -> Channels {
        Channels {
            email: t.email,
            sms: t.sms,
            call: t.call,
            personaliser: t.llm.map(|llm| Arc::new(llm) as Arc<dyn Personaliser>),
        }
    }
}

#[async_trait::async_trait]
impl Personaliser for crate::channels::LlmClient {
    async fn personalise(
        &self,
        sequence: &Sequence,
        step: usize,
        lead: &Lead,
        message: &Message,
    ) -> Result<Message, String> {
        let mut facts = vec![
            ("name".to_string(), lead.name.clone()),
            ("first_name".to_string(), lead.first_name().to_string()),
        ];
        if let Some(company) = &lead.company {
            facts.push(("company".to_string(), company.clone()));
        }
        facts.extend(lead.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        let channel = sequence
            .steps
            .get(step)
            .map(|s| s.channel)
            .unwrap_or(Channel::Email);
        crate::channels::LlmClient::personalise(
            self,
            &sequence.brief,
            &facts,
            message,
            channel,
            &[],
        )
        .await
        .map_err(|e| e.to_string())
    }
}
