//! The phrase and status tables of `rules.toml`, compiled into the binary
//! and parsed once. Data, not code, so a new server dialect is one line.

use std::sync::LazyLock;

use serde::Deserialize;

use super::BounceKind;

/// The whole rules file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Bounce recognition and verdicts.
    pub bounce: BounceRules,
    /// Auto-reply recognition.
    pub autoreply: AutoReplyRules,
    /// Challenge-response filters.
    pub challenge: ChallengeRules,
}

/// `[bounce]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceRules {
    /// Local parts of addresses that write bounces.
    pub daemon_senders: Vec<String>,
    /// Display names of senders that write bounces.
    pub daemon_names: Vec<String>,
    /// Bounce subjects.
    pub subjects: Vec<String>,
    /// Words of a notice that returns our message.
    pub body_markers: Vec<String>,
    /// Status codes decided by class and subject.
    pub status: Vec<StatusRule>,
    /// Phrase lists that win over a report's Status field, in order.
    #[serde(rename = "override")]
    pub overrides: Vec<PhraseRule>,
    /// Phrase lists, in order.
    pub phrases: Vec<PhraseRule>,
}

/// Statuses (exact, or a prefix ending in `.`) with one verdict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRule {
    /// `5.1.1`, or `5.7.` for a whole subject class.
    pub codes: Vec<String>,
    /// What they mean.
    pub verdict: BounceKind,
}

/// Phrases with one verdict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseRule {
    /// What they mean.
    pub verdict: BounceKind,
    /// Lower-case substrings.
    pub phrases: Vec<String>,
}

/// `[autoreply]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoReplyRules {
    /// Subjects of automatic answers.
    pub subjects: Vec<String>,
    /// Body phrases of automatic answers without headers.
    pub body_phrases: Vec<String>,
    /// The address is no longer read.
    pub retired: Vec<String>,
    /// A new address follows.
    pub new_address: Vec<String>,
}

/// `[challenge]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRules {
    /// Names of challenge-response services.
    pub senders: Vec<String>,
    /// What their messages say.
    pub phrases: Vec<String>,
}

/// The rules text, for tests that check it parses.
pub const SOURCE: &str = include_str!("rules.toml");

/// The parsed rules. The file is part of the binary and covered by a unit
/// test, so a parse failure here is a build defect, never user input.
pub static RULES: LazyLock<Rules> = LazyLock::new(|| match toml::from_str::<Rules>(SOURCE) {
    Ok(rules) => rules.lowercased(),
    Err(e) => panic!("src/domain/mail/rules.toml is invalid: {e}"),
});

impl Rules {
    /// Phrases in lower case, so matching only lowers the message once.
    fn lowercased(mut self) -> Rules {
        let lower = |list: &mut Vec<String>| list.iter_mut().for_each(|p| *p = p.to_lowercase());
        lower(&mut self.bounce.daemon_senders);
        lower(&mut self.bounce.subjects);
        lower(&mut self.bounce.daemon_names);
        self.bounce
            .overrides
            .iter_mut()
            .for_each(|r| lower(&mut r.phrases));
        lower(&mut self.bounce.body_markers);
        self.bounce
            .phrases
            .iter_mut()
            .for_each(|r| lower(&mut r.phrases));
        lower(&mut self.autoreply.subjects);
        lower(&mut self.autoreply.body_phrases);
        lower(&mut self.autoreply.retired);
        lower(&mut self.autoreply.new_address);
        lower(&mut self.challenge.senders);
        lower(&mut self.challenge.phrases);
        self
    }
}

/// The first phrase of `phrases` found in `lower` (already lower case).
pub fn find<'a>(phrases: &'a [String], lower: &str) -> Option<&'a str> {
    phrases
        .iter()
        .map(String::as_str)
        .find(|p| lower.contains(p))
}
