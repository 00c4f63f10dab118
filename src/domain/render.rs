//! Turning a step's templates into the exact words a lead receives.

use minijinja::Value;
use serde::Serialize;

use super::lead::Lead;
use super::sequence::{Channel, Sequence};

/// Who the messages come from; fills `sender_*` and `booking_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// Signs messages.
    #[serde(default)]
    pub name: String,
    /// Sender's company.
    #[serde(default)]
    pub company: String,
    /// Link to book a call.
    #[serde(default)]
    pub booking_url: String,
}

/// A rendered touch, exactly as it would be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    /// Email subject (`Re: …` for follow-ups without their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Body including footer or opt-out line.
    pub body: String,
}

/// A template failed for this particular lead (e.g. a missing `fields.x`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step `{step}` {part}: {detail}")]
pub struct RenderError {
    /// Step id.
    pub step: String,
    /// `subject`, `body` or `footer`.
    pub part: &'static str,
    /// The template engine's explanation.
    pub detail: String,
}

/// SMS compliance line carried by the first text a lead receives.
pub const SMS_OPT_OUT: &str = "Reply STOP to opt out";

fn context(lead: &Lead, sender: &Sender) -> Value {
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    minijinja::context! {
        name => lead.name.clone(),
        first_name => lead.first_name(),
        last_name => lead.last_name(),
        email => or_empty(&lead.email),
        phone => or_empty(&lead.phone),
        company => or_empty(&lead.company),
        source => lead.source.clone(),
        fields => Value::from(lead.fields.clone()),
        sender_name => sender.name.clone(),
        sender_company => sender.company.clone(),
        booking_url => sender.booking_url.clone(),
    }
}

/// Renders step `index` of `seq` for `lead`.
pub fn render_step(
    seq: &Sequence,
    index: usize,
    lead: &Lead,
    sender: &Sender,
) -> Result<Message, RenderError> {
    let step = &seq.steps[index];
    let ctx = context(lead, sender);
    let render = |name: String, part: &'static str| {
        seq.env
            .get_template(&name)
            .and_then(|t| t.render(&ctx))
            .map(|s| s.trim().to_string())
            .map_err(|e| RenderError {
                step: step.id.clone(),
                part,
                detail: e
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
            })
    };
    let mut body = render(format!("{index}.body"), "body")?;
    let subject = match step.channel {
        Channel::Email => Some(match &step.subject {
            Some(_) => render(format!("{index}.subject"), "subject")?,
            None => {
                let first = seq
                    .steps
                    .iter()
                    .position(|s| s.channel == Channel::Email && s.subject.is_some())
                    .map(|i| render(format!("{i}.subject"), "subject"))
                    .transpose()?
                    .unwrap_or_default();
                format!("Re: {first}")
            }
        }),
        _ => None,
    };
    match step.channel {
        Channel::Email if seq.email_footer.is_some() => {
            let footer = render("footer".to_string(), "footer")?;
            body = format!("{body}\n\n--\n{footer}");
        }
        Channel::Sms if is_first_sms(seq, index) && !body.contains("STOP") => {
            body = format!("{body} {SMS_OPT_OUT}");
        }
        _ => {}
    }
    Ok(Message { subject, body })
}

fn is_first_sms(seq: &Sequence, index: usize) -> bool {
    seq.steps.iter().position(|s| s.channel == Channel::Sms) == Some(index)
}

/// The HTML alternative of a plain-text email: the whole text is escaped
/// (so nothing from a lead can inject markup), paragraphs and line breaks are
/// kept, and bare http(s) links become clickable.
pub fn text_to_html(text: &str) -> String {
    text_to_html_with(text, str::to_string)
}

/// [`text_to_html`] with each link's `href` chosen by `href` (tracking
/// rewrites it to the click redirect); the visible text stays the original
/// link, so the reader sees where it goes.
pub fn text_to_html_with(text: &str, href: impl Fn(&str) -> String) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let linkify = |line: &str| {
        line.split(' ')
            .map(|word| match super::tracking::link_in_word(word) {
                Some(url) => {
                    let rest = &word[url.len()..];
                    format!(
                        "<a href=\"{}\">{}</a>{}",
                        escape(&href(url)),
                        escape(url),
                        escape(rest)
                    )
                }
                None => escape(word),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let paragraphs: Vec<String> = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            format!(
                "<p>{}</p>",
                p.lines().map(linkify).collect::<Vec<_>>().join("<br>\n")
            )
        })
        .collect();
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\n{}\n</body></html>",
        paragraphs.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything_and_links_urls() {
        let html =
            text_to_html("Hi <b>Ada</b> & co,\n\nSee https://cal.example.com/sam?a=1&b=2.\nThanks");
        assert!(
            html.contains("<p>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; co,</p>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://cal.example.com/sam?a=1&amp;b=2\">https://cal.example.com/sam?a=1&amp;b=2</a>.<br>"),
            "{html}"
        );
        assert!(!html.contains("<b>"));
    }
}
