//! The add / edit lead form: fields, focus and inline errors. Pure state;
//! [`key`] turns a submitted form into an engine request.
//!
//! Validation is the engine's own ([`LeadInput::problems`]), run here before
//! anything is sent, so each bad field shows its error next to it; what only
//! the store can know (a duplicate, a suppressed contact) comes back from the
//! engine and lands on the field it names.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Dialog;
use crate::domain::lead::{Lead, LeadId, LeadInput};
use crate::engine::LeadEdit;
use crate::present;
use crate::tui::app::{App, Command};
use crate::tui::io::IoRequest;
use crate::tui::theme::Theme;
use crate::tui::widgets::text_input::{self, Edit};
use crate::tui::widgets::toast::ToastKind;

/// Columns wide.
pub const WIDTH: u16 = 76;

/// What the form does when submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormMode {
    /// Add a new lead.
    Add,
    /// Change an existing one.
    Edit {
        /// The lead.
        id: LeadId,
        /// The values it had, to send only what changed.
        original: Vec<String>,
    },
}

/// One labelled input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// Field name (`name`, `email`…), as in validation errors.
    pub name: &'static str,
    /// What was typed.
    pub value: String,
    /// Why it is refused, shown beside it.
    pub error: Option<String>,
}

/// A key's effect on the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKey {
    /// Keep editing.
    Edit,
    /// Close without saving.
    Cancel,
    /// Validate and send.
    Submit,
}

/// The form's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormState {
    /// Add or edit.
    pub mode: FormMode,
    /// The inputs, in order.
    pub fields: Vec<FormField>,
    /// The focused input.
    pub focus: usize,
    /// A refusal that names no field.
    pub error: Option<String>,
    /// Sent and waiting for the engine's answer.
    pub busy: bool,
}

fn field(name: &'static str, value: impl Into<String>) -> FormField {
    FormField {
        name,
        value: value.into(),
        error: None,
    }
}

impl FormState {
    /// An empty add form; `sequence` is the default sequence's name.
    pub fn add(sequence: &str) -> FormState {
        FormState {
            mode: FormMode::Add,
            fields: vec![
                field("name", ""),
                field("email", ""),
                field("phone", ""),
                field("company", ""),
                field("sequence", sequence),
                field("source", "tui"),
            ],
            focus: 0,
            error: None,
            busy: false,
        }
    }

    /// An edit form holding `lead`'s current details.
    pub fn edit(lead: &Lead) -> FormState {
        let values = [
            lead.name.clone(),
            lead.email.clone().unwrap_or_default(),
            lead.phone.clone().unwrap_or_default(),
            lead.company.clone().unwrap_or_default(),
        ];
        let names = ["name", "email", "phone", "company"];
        FormState {
            mode: FormMode::Edit {
                id: lead.id,
                original: values.to_vec(),
            },
            fields: names
                .into_iter()
                .zip(values)
                .map(|(n, v)| field(n, v))
                .collect(),
            focus: 0,
            error: None,
            busy: false,
        }
    }

    /// The title: "add lead" or "edit lead".
    pub fn title(&self) -> &'static str {
        match self.mode {
            FormMode::Add => " add lead ",
            FormMode::Edit { .. } => " edit lead ",
        }
    }

    /// The value of the field called `name` ("" when absent).
    pub fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.value.as_str())
    }

    /// Applies a key: typing, Tab / Shift-Tab (and arrows) between fields,
    /// Enter submits, Esc cancels.
    pub fn key(&mut self, key: &KeyEvent) -> FormKey {
        let n = self.fields.len();
        match key.code {
            KeyCode::Esc => return FormKey::Cancel,
            KeyCode::Enter => return FormKey::Submit,
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && text_input::edit(&mut f.value, key) == Edit::Typed
                {
                    f.error = None;
                }
            }
        }
        FormKey::Edit
    }

    /// The input as intake sees it.
    pub fn input(&self) -> LeadInput {
        let opt = |name| {
            let v = self.value(name).trim();
            (!v.is_empty()).then(|| v.to_string())
        };
        LeadInput {
            name: self.value("name").to_string(),
            email: opt("email"),
            phone: opt("phone"),
            company: opt("company"),
            source: self.value("source").trim().to_string(),
            sequence: opt("sequence"),
            ..LeadInput::default()
        }
    }

    /// Runs the engine's validation and puts each problem beside its field;
    /// true when there is none. `sequences` are the known sequence names.
    pub fn validate(&mut self, default_region: Option<&str>, sequences: &[String]) -> bool {
        for f in &mut self.fields {
            f.error = None;
        }
        self.error = None;
        let input = self.input();
        let mut problems: Vec<(&str, String)> = input
            .problems(default_region)
            .into_iter()
            .map(|(name, e)| (name, e.to_string()))
            .collect();
        if self.mode == FormMode::Add {
            let sequence = self.value("sequence").trim();
            if !sequence.is_empty() && !sequences.iter().any(|s| s == sequence) {
                problems.push((
                    "sequence",
                    format!("unknown sequence (one of {})", sequences.join(", ")),
                ));
            }
        }
        let clean = problems.is_empty();
        for (name, message) in problems {
            self.reject(Some(name), message);
        }
        clean
    }

    /// Shows a refusal beside the field it names, or under the form.
    pub fn reject(&mut self, name: Option<&str>, message: String) {
        self.busy = false;
        match name.and_then(|n| self.fields.iter_mut().find(|f| f.name == n)) {
            Some(f) if f.error.is_none() => f.error = Some(message),
            Some(_) => {}
            None => self.error = Some(message),
        }
    }

    /// For an edit: only the fields that changed.
    pub fn changes(&self) -> LeadEdit {
        let FormMode::Edit { original, .. } = &self.mode else {
            return LeadEdit::default();
        };
        let changed = |i: usize| {
            let now = self.fields.get(i).map_or("", |f| f.value.trim());
            (original.get(i).map(String::as_str) != Some(now)).then(|| now.to_string())
        };
        LeadEdit {
            name: changed(0),
            email: changed(1),
            phone: changed(2),
            company: changed(3),
        }
    }
}

/// The field an engine refusal is about, judged from its words (the same
/// locally and over the socket, which carries messages verbatim).
pub fn field_of_error(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("email") {
        Some("email")
    } else if m.contains("phone") {
        Some("phone")
    } else if m.contains("sequence") {
        Some("sequence")
    } else if m.contains("name") {
        Some("name")
    } else {
        None
    }
}

/// Keys in the form; a submit validates first and sends only a clean form.
pub fn key(app: &mut App, key: &KeyEvent, mut form: Box<FormState>) -> Vec<Command> {
    if form.busy {
        // Waiting for the engine: only Esc (give up waiting) does anything.
        if key.code != KeyCode::Esc {
            app.dialog = Dialog::Form(form);
        }
        return Vec::new();
    }
    let commands = match form.key(key) {
        FormKey::Cancel => return Vec::new(),
        FormKey::Edit => Vec::new(),
        FormKey::Submit => {
            let names = app.sequence_names();
            if form.validate(app.default_region.as_deref(), &names) {
                let request = match &form.mode {
                    FormMode::Add => Some(IoRequest::Add {
                        input: Box::new(form.input()),
                    }),
                    FormMode::Edit { id, .. } => {
                        let edit = form.changes();
                        (!edit.is_empty()).then_some(IoRequest::Edit { id: *id, edit })
                    }
                };
                match request {
                    Some(request) => {
                        form.busy = true;
                        vec![Command::Io(request)]
                    }
                    None => {
                        app.toasts.push(ToastKind::Info, "nothing changed");
                        return Vec::new();
                    }
                }
            } else {
                Vec::new()
            }
        }
    };
    app.dialog = Dialog::Form(form);
    commands
}

/// The form's lines: one per field, the error beside it.
pub fn lines(form: &FormState, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.focus;
        let label = Style::default().fg(if focused { t.accent } else { t.muted });
        let value = if focused {
            Style::default().fg(t.text).bg(t.selected)
        } else {
            Style::default().fg(t.text)
        };
        let shown = present::cell(&field.value, 24);
        let mut spans = vec![
            Span::styled(format!("{:>9} ", field.name), label),
            Span::styled(shown, value),
        ];
        if let Some(error) = &field.error {
            spans.push(Span::styled(
                format!(" ✗ {}", present::truncate(&present::safe(error), 36)),
                Style::default().fg(t.error),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::default());
    if let Some(error) = &form.error {
        lines.push(Line::from(Span::styled(
            format!("✗ {}", present::safe(error)),
            Style::default().fg(t.error),
        )));
    }
    let hint = if form.busy {
        "saving…"
    } else {
        "tab / shift-tab: field · enter: save · esc: cancel"
    };
    lines.push(Line::from(Span::styled(hint, Style::default().fg(t.muted))));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_text(form: &mut FormState, text: &str) {
        for c in text.chars() {
            form.key(&key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn tab_moves_between_fields_and_typing_fills_them() {
        let mut form = FormState::add("default");
        type_text(&mut form, "Ada");
        form.key(&key(KeyCode::Tab));
        type_text(&mut form, "ada@example.com");
        form.key(&key(KeyCode::BackTab));
        form.key(&key(KeyCode::Backspace));
        assert_eq!(form.value("name"), "Ad");
        assert_eq!(form.value("email"), "ada@example.com");
        assert_eq!(form.key(&key(KeyCode::Enter)), FormKey::Submit);
        assert_eq!(form.key(&key(KeyCode::Esc)), FormKey::Cancel);
    }

    #[test]
    fn validation_puts_errors_beside_their_fields() {
        let mut form = FormState::add("default");
        form.fields[1].value = "not-an-email".into();
        form.fields[2].value = "12".into();
        form.fields[4].value = "nope".into();
        assert!(!form.validate(None, &["default".into()]));
        let error = |name: &str| {
            form.fields
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.error.clone())
        };
        assert_eq!(error("name").as_deref(), Some("missing name"));
        assert!(error("email").unwrap().contains("invalid email"));
        assert!(error("phone").unwrap().contains("invalid phone"));
        assert!(error("sequence").unwrap().contains("unknown sequence"));
        form.fields[0].value = "Ada".into();
        form.fields[1].value = "ada@example.com".into();
        form.fields[2].value.clear();
        form.fields[4].value = "default".into();
        assert!(form.validate(None, &["default".into()]));
    }

    #[test]
    fn an_edit_sends_only_what_changed() {
        let lead = LeadInput {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            ..LeadInput::default()
        }
        .validate(None)
        .unwrap()
        .into_lead(
            LeadId(ulid::Ulid::from_parts(1, 0)),
            "default".into(),
            chrono::DateTime::UNIX_EPOCH,
        );
        let mut form = FormState::edit(&lead);
        form.fields[3].value = "Acme".into();
        assert_eq!(
            form.changes(),
            LeadEdit {
                company: Some("Acme".into()),
                ..LeadEdit::default()
            }
        );
        assert_eq!(
            field_of_error("a lead with this email already exists"),
            Some("email")
        );
        assert_eq!(field_of_error("database error"), None);
    }
}
