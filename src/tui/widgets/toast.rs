//! Toasts: short messages at the bottom right that go away by themselves.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Clear, Paragraph};

use crate::present;
use crate::tui::theme::Theme;

/// How long a toast stays up.
pub const TOAST_TTL: Duration = Duration::from_secs(6);

/// How a toast looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    /// Good news (a reply, a booking).
    Success,
    /// Feedback on what you did.
    Info,
    /// Something failed.
    Error,
}

/// A message that shows for a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// The text.
    pub text: String,
    /// Its colour.
    pub kind: ToastKind,
    /// When it appeared, for expiry.
    pub at: Instant,
}

/// Recent toasts, newest last.
#[derive(Debug, Clone, Default)]
pub struct Toasts {
    /// Showing now.
    pub items: VecDeque<Toast>,
}

impl Toasts {
    /// Shows a toast.
    pub fn push(&mut self, kind: ToastKind, text: impl Into<String>) {
        self.items.push_back(Toast {
            text: text.into(),
            kind,
            at: Instant::now(),
        });
        while self.items.len() > 3 {
            self.items.pop_front();
        }
    }

    /// Drops expired toasts; true when one went.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.items.len();
        self.items
            .retain(|t| now.saturating_duration_since(t.at) < TOAST_TTL);
        self.items.len() != before
    }
}

/// Draws the toasts at the bottom right of `body`, newest lowest.
pub fn render(frame: &mut Frame, body: Rect, toasts: &Toasts, t: &Theme) {
    for (i, toast) in toasts.items.iter().rev().enumerate() {
        // Toasts quote lead names and engine errors: made safe, measured in columns.
        let text = present::safe(&toast.text);
        let width = (present::width(&text) as u16 + 4).min(body.width.saturating_sub(2));
        let y = body.bottom().saturating_sub(1 + i as u16);
        if y <= body.y {
            break;
        }
        let area = Rect {
            x: body.right().saturating_sub(width + 1),
            y,
            width,
            height: 1,
        };
        let colour = match toast.kind {
            ToastKind::Success => t.success,
            ToastKind::Info => t.accent,
            ToastKind::Error => t.error,
        };
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(format!(" {text} ")).style(Style::default().fg(t.background).bg(colour)),
            area,
        );
    }
}
