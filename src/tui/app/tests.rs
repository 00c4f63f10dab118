//! The update logic, driven message by message without I/O.

use super::*;
use crate::catalog::BUILTIN_DEFAULT;
use crate::clock::ManualClock;
use chrono::Duration;
use crossterm::event::{KeyCode, KeyModifiers};

use crate::domain::event::EventKind;
use crate::domain::lead::LeadInput;
use crate::domain::lead::Stage;
use crate::domain::sequence::Channel;
use crate::engine::{BoardCard, LeadEdit};
use crate::tui::io::BoardQuery;
use crate::tui::screens::stats::STATS_REFRESH;
use crate::tui::theme::{ColorDepth, Themes};
use crate::tui::widgets::toast::ToastKind;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-03T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn lead(n: u64, status: Status) -> Lead {
    let input = LeadInput {
        name: format!("Lead {n}"),
        email: Some(format!("lead{n}@example.com")),
        source: "test".into(),
        ..LeadInput::default()
    };
    let id = LeadId(ulid::Ulid::from_parts(1_000 + n, 0));
    let mut lead = input
        .validate(None)
        .unwrap()
        .into_lead(id, "default".into(), start());
    lead.status = status;
    lead
}

fn card(n: u64) -> BoardCard {
    BoardCard {
        lead: lead(n, Status::Active),
        in_doubt: false,
        failed: false,
        sending: None,
    }
}

/// An 80×24 app whose New column holds `count` leads, the first page loaded.
fn app(count: usize) -> App {
    let sequence = Sequence::parse("default.toml", BUILTIN_DEFAULT, "default").unwrap();
    let (mut app, first) = App::new(
        AppConfig {
            sequences: vec![sequence.clone()],
            default_region: None,
            sequence,
            filter: false,
            keys: KeyMap::default(),
            themes: Themes::load(None, ColorDepth::Ansi16),
            theme: "dark".into(),
            clock: Arc::new(ManualClock::new(start())),
            user_zone: UserZone::Named(Tz::UTC),
            default_tz: Tz::UTC,
            bell: true,
            mode: "test".into(),
            idle_tick: IDLE_TICK,
        },
        80,
        24,
    );
    assert!(matches!(first[0], Command::Io(IoRequest::Counts { .. })));
    update(
        &mut app,
        Msg::Io(IoResult::Counts(vec![(Stage::New, count)])),
    );
    let cards = (0..count.min(15) as u64).map(card).collect();
    update(
        &mut app,
        Msg::Io(IoResult::Page {
            stages: vec![Stage::New],
            offset: 0,
            cards,
        }),
    );
    app
}

fn press(app: &mut App, c: char) -> Vec<Command> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    )
}

fn mark_of(commands: &[Command]) -> Option<(Mark, Status, bool)> {
    match commands {
        [
            Command::Io(IoRequest::Mark {
                mark, before, undo, ..
            }),
        ] => Some((*mark, *before, *undo)),
        _ => None,
    }
}

#[test]
fn mark_keys_become_engine_marks() {
    let mut app = app(3);
    assert_eq!(
        mark_of(&press(&mut app, 'r')),
        Some((Mark::Replied, Status::Active, false))
    );
    assert_eq!(mark_of(&press(&mut app, 'b')).unwrap().0, Mark::Booked);
    assert_eq!(mark_of(&press(&mut app, 'H')).unwrap().0, Mark::HandedOff);
    assert_eq!(mark_of(&press(&mut app, 'p')).unwrap().0, Mark::Paused);
}

#[test]
fn pause_resumes_a_paused_lead() {
    let mut app = app(1);
    app.board.columns[0].cards[0].lead.status = Status::Paused;
    assert_eq!(
        mark_of(&press(&mut app, 'p')),
        Some((Mark::Resumed, Status::Paused, false))
    );
}

#[test]
fn opt_out_and_send_now_ask_first() {
    let mut app = app(2);
    assert!(press(&mut app, 'o').is_empty());
    assert!(matches!(app.dialog, Dialog::Confirm { .. }));
    assert!(
        press(&mut app, 'x').is_empty(),
        "other keys keep the question"
    );
    assert!(press(&mut app, 'n').is_empty());
    assert_eq!(app.dialog, Dialog::None);
    press(&mut app, 'o');
    assert_eq!(mark_of(&press(&mut app, 'y')).unwrap().0, Mark::OptedOut);
    press(&mut app, 'd');
    let sent = press(&mut app, 'y');
    assert!(matches!(
        sent.as_slice(),
        [Command::Io(IoRequest::SendNow { .. })]
    ));
}

#[test]
fn snooze_picks_a_duration_on_the_engine_clock() {
    let mut app = app(1);
    assert!(press(&mut app, 's').is_empty());
    let commands = press(&mut app, '2');
    match commands.as_slice() {
        [Command::Io(IoRequest::Snooze { until, .. })] => {
            assert_eq!(*until, start() + Duration::days(3));
        }
        other => panic!("expected a snooze, got {other:?}"),
    }
}

#[test]
fn moving_past_the_loaded_page_reads_only_the_next_page() {
    let mut app = app(100);
    assert_eq!(app.board.rows, 5);
    assert!(press(&mut app, 'j').is_empty(), "the next card is loaded");
    let commands = press(&mut app, 'G');
    let column = &app.board.columns[0];
    assert_eq!((column.cursor, column.scroll), (99, 95));
    assert_eq!(
        commands,
        vec![Command::Io(IoRequest::Page {
            stages: vec![Stage::New],
            filter: BoardQuery::default(),
            offset: 90,
            limit: 15,
        })]
    );
    press(&mut app, 'g');
    assert_eq!(app.board.columns[0].cursor, 0);
}

#[test]
fn columns_scroll_sideways_and_load_what_comes_into_view() {
    let mut app = app(1);
    assert_eq!(app.board.visible(), 0..4);
    for _ in 0..4 {
        press(&mut app, 'l');
    }
    assert_eq!(app.board.focus, 4);
    assert_eq!(app.board.visible(), 1..5);
    press(&mut app, 'h');
    assert_eq!(app.board.focus, 3);
}

#[test]
fn undo_takes_back_a_mark_within_ten_seconds() {
    let mut app = app(1);
    let marked = lead(0, Status::Replied);
    update(
        &mut app,
        Msg::Io(IoResult::Marked {
            lead: Box::new(marked),
            mark: Mark::Replied,
            before: Status::Active,
            undo: false,
        }),
    );
    assert_eq!(
        mark_of(&press(&mut app, 'u')),
        Some((Mark::Resumed, Status::Active, true))
    );
    assert!(press(&mut app, 'u').is_empty(), "one undo per mark");
    app.undo = Some(UndoEntry {
        id: lead(0, Status::Active).id,
        name: "Lead 0".into(),
        inverse: Mark::Resumed,
        at: Instant::now() - StdDuration::from_secs(11),
    });
    assert!(press(&mut app, 'u').is_empty());
    assert!(app.toasts.items.iter().any(|t| t.text.contains("too late")));
    assert_eq!(inverse(Mark::HandedOff, Status::Active), None);
    assert_eq!(inverse(Mark::Resumed, Status::Paused), Some(Mark::Paused));
}

#[test]
fn hot_bounce_and_in_doubt_raise_toasts_and_the_bell_too() {
    let mut app = app(1);
    let cases = [
        (
            EventKind::Hot { score: 7 },
            "Lead 1 is hot",
            ToastKind::Success,
        ),
        (
            EventKind::Bounced {
                reason: "550 user unknown".into(),
            },
            "Lead 2 bounced",
            ToastKind::Error,
        ),
        (
            EventKind::TouchInDoubt {
                step: "s1".into(),
                channel: Channel::Email,
                reason: "connection lost".into(),
            },
            "Lead 3 has a send in doubt",
            ToastKind::Error,
        ),
    ];
    for (id, (event, text, kind)) in (1..).zip(cases) {
        let commands = update(
            &mut app,
            Msg::Io(IoResult::Watched {
                lead: Box::new(lead(id, Status::Active)),
                new: vec![EventKind::Note { text: "x".into() }, event],
            }),
        );
        assert_eq!(commands, vec![Command::Bell], "{text}");
        let toast = app.toasts.items.back().unwrap();
        assert!(toast.text.contains(text), "{}", toast.text);
        assert_eq!(toast.kind, kind);
    }
    // Ordinary news is no alert.
    let commands = update(
        &mut app,
        Msg::Io(IoResult::Watched {
            lead: Box::new(lead(4, Status::Active)),
            new: vec![EventKind::Note { text: "x".into() }],
        }),
    );
    assert!(commands.is_empty());
    assert_eq!(app.toasts.items.len(), 3);
}

#[test]
fn a_reply_from_elsewhere_raises_a_toast_and_the_bell() {
    let mut app = app(1);
    let watched = |app: &mut App, id: u64| {
        update(
            app,
            Msg::Io(IoResult::Watched {
                lead: Box::new(lead(id, Status::Replied)),
                new: vec![EventKind::Replied],
            }),
        )
    };
    assert_eq!(watched(&mut app, 7), vec![Command::Bell]);
    assert!(
        app.toasts
            .items
            .back()
            .unwrap()
            .text
            .contains("Lead 7 replied")
    );
    app.bell = false;
    assert!(watched(&mut app, 8).is_empty());
    assert_eq!(app.toasts.items.len(), 2);
    // A mark made here is not news.
    app.bell = true;
    update(
        &mut app,
        Msg::Io(IoResult::Marked {
            lead: Box::new(lead(9, Status::Replied)),
            mark: Mark::Replied,
            before: Status::Active,
            undo: false,
        }),
    );
    assert!(watched(&mut app, 9).is_empty());
}

#[test]
fn a_change_rereads_counts_visible_pages_and_the_lead() {
    let mut app = app(1);
    let id = lead(0, Status::Active).id;
    let commands = update(&mut app, Msg::Changed(Change::Lead(id)));
    assert!(matches!(commands[0], Command::Io(IoRequest::Counts { .. })));
    assert!(commands.contains(&Command::Io(IoRequest::Watch { id })));
    let pages = commands
        .iter()
        .filter(|c| matches!(c, Command::Io(IoRequest::Page { .. })))
        .count();
    assert_eq!(pages, 4, "the four visible columns");
}

#[test]
fn enter_opens_the_detail_and_esc_returns() {
    let mut app = app(1);
    let commands = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert_eq!(app.screen, Screen::Detail);
    assert!(matches!(
        commands.as_slice(),
        [Command::Io(IoRequest::Detail { .. })]
    ));
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    assert_eq!(app.screen, Screen::Board);
    press(&mut app, '?');
    assert_eq!(app.dialog, Dialog::Help);
    press(&mut app, 'x');
    assert_eq!(app.dialog, Dialog::None);
    press(&mut app, 'q');
    assert!(app.quit);
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, text: &str) -> Vec<Command> {
    text.chars().flat_map(|c| press(app, c)).collect()
}

#[test]
fn the_board_has_a_hot_column_before_replied() {
    let app = app(1);
    let titles: Vec<&str> = app.board.columns.iter().map(|c| c.title.as_str()).collect();
    let hot = titles.iter().position(|t| *t == "Hot").unwrap();
    assert_eq!(titles[hot + 1], "Replied");
    assert!(
        titles[hot - 1].contains(" · "),
        "after the steps: {titles:?}"
    );
    assert_eq!(app.board.columns[hot].stages, vec![Stage::Hot]);
}

#[test]
fn tab_reaches_stats_which_reads_once_and_throttles_changes() {
    let mut app = app(1);
    assert!(key(&mut app, KeyCode::Tab).is_empty());
    assert_eq!(app.screen, Screen::Activity);
    let commands = key(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Stats);
    assert_eq!(
        commands,
        vec![Command::Io(IoRequest::Stats {
            filter: BoardQuery::default()
        })]
    );
    // A change while the read is on its way only marks the numbers stale.
    let id = lead(0, Status::Active).id;
    let changed = update(&mut app, Msg::Changed(Change::Lead(id)));
    assert!(
        !changed
            .iter()
            .any(|c| matches!(c, Command::Io(IoRequest::Stats { .. })))
    );
    assert!(app.stats.stale);
    update(&mut app, Msg::Io(IoResult::Stats(Box::default())));
    assert!(app.stats.stats.is_some() && !app.stats.loading);
    // Within the refresh interval a tick does not re-read either.
    assert!(update(&mut app, Msg::Tick).is_empty());
    app.stats.asked = Some(Instant::now() - STATS_REFRESH);
    assert!(matches!(
        update(&mut app, Msg::Tick).as_slice(),
        [Command::Io(IoRequest::Stats { .. })]
    ));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Board);
}

#[test]
fn slash_searches_as_you_type_and_enter_opens_a_result() {
    let mut app = app(1);
    assert!(press(&mut app, '/').is_empty());
    assert_eq!(app.screen, Screen::Search);
    let commands = typed(&mut app, "ad");
    assert_eq!(
        commands.last(),
        Some(&Command::Io(IoRequest::Search { query: "ad".into() }))
    );
    // Keys are text here: `q` does not quit.
    press(&mut app, 'q');
    assert!(!app.quit);
    key(&mut app, KeyCode::Backspace);
    // A stale answer is ignored; the current one fills the list.
    update(
        &mut app,
        Msg::Io(IoResult::Found {
            query: "a".into(),
            leads: vec![lead(9, Status::Active)],
        }),
    );
    assert!(app.search.results.is_empty());
    update(
        &mut app,
        Msg::Io(IoResult::Found {
            query: "ad".into(),
            leads: vec![lead(1, Status::Active), lead(2, Status::Active)],
        }),
    );
    // A change to a lead on show asks again; one to another lead does not.
    let asks_again = |commands: &[Command]| {
        commands
            .iter()
            .any(|c| matches!(c, Command::Io(IoRequest::Search { query }) if query == "ad"))
    };
    let id1 = lead(1, Status::Active).id;
    assert!(asks_again(&update(
        &mut app,
        Msg::Changed(Change::Lead(id1))
    )));
    let id7 = lead(7, Status::Active).id;
    assert!(!asks_again(&update(
        &mut app,
        Msg::Changed(Change::Lead(id7))
    )));
    key(&mut app, KeyCode::Down);
    let commands = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::Io(IoRequest::Detail {
            id: lead(2, Status::Active).id
        })]
    );
    assert_eq!(app.screen, Screen::Detail);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Search, "esc returns to the results");
    key(&mut app, KeyCode::Esc);
    assert!(app.search.query.is_empty() && app.search.results.is_empty());
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Board);
}

#[test]
fn n_prompts_for_a_note_and_enter_sends_it() {
    let mut app = app(1);
    assert!(press(&mut app, 'n').is_empty());
    assert!(matches!(app.dialog, Dialog::Note { .. }));
    assert!(typed(&mut app, "call back").is_empty());
    let commands = key(&mut app, KeyCode::Enter);
    match commands.as_slice() {
        [Command::Io(IoRequest::Note { text, name, .. })] => {
            assert_eq!(text, "call back");
            assert_eq!(name, "Lead 0");
        }
        other => panic!("expected a note, got {other:?}"),
    }
    assert_eq!(app.dialog, Dialog::None);
    press(&mut app, 'n');
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.dialog, Dialog::None);
}

#[test]
fn a_opens_the_form_which_validates_before_sending() {
    let mut app = app(1);
    assert!(press(&mut app, 'a').is_empty());
    let Dialog::Form(form) = &app.dialog else {
        panic!("a form");
    };
    assert_eq!(form.value("sequence"), "default");
    // Nothing typed: errors inline, nothing sent.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let Dialog::Form(form) = &app.dialog else {
        panic!("still a form");
    };
    assert!(form.fields[0].error.is_some());
    typed(&mut app, "Ada");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "ada@example.com");
    let commands = key(&mut app, KeyCode::Enter);
    match commands.as_slice() {
        [Command::Io(IoRequest::Add { input })] => {
            assert_eq!(input.name, "Ada");
            assert_eq!(input.email.as_deref(), Some("ada@example.com"));
            assert_eq!(input.sequence.as_deref(), Some("default"));
        }
        other => panic!("expected an add, got {other:?}"),
    }
    // The engine refuses a duplicate: the error lands beside the email.
    update(
        &mut app,
        Msg::Io(IoResult::Rejected(
            "a lead with this email already exists: X".into(),
        )),
    );
    let Dialog::Form(form) = &app.dialog else {
        panic!("the form stays open");
    };
    assert!(
        form.fields[1]
            .error
            .as_deref()
            .unwrap()
            .contains("already exists")
    );
    update(
        &mut app,
        Msg::Io(IoResult::Saved {
            name: "Ada".into(),
            added: true,
        }),
    );
    assert_eq!(app.dialog, Dialog::None);
}

#[test]
fn e_edits_the_selected_lead_sending_only_changes() {
    let mut app = app(1);
    press(&mut app, 'e');
    let Dialog::Form(form) = &app.dialog else {
        panic!("a form");
    };
    assert_eq!(form.value("name"), "Lead 0");
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "nothing changed, nothing sent"
    );
    press(&mut app, 'e');
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    typed(&mut app, "Acme");
    let commands = key(&mut app, KeyCode::Enter);
    match commands.as_slice() {
        [Command::Io(IoRequest::Edit { edit, .. })] => assert_eq!(
            *edit,
            LeadEdit {
                company: Some("Acme".into()),
                ..LeadEdit::default()
            }
        ),
        other => panic!("expected an edit, got {other:?}"),
    }
}

#[test]
fn f_picks_a_sequence_or_source_and_the_board_rereads() {
    let mut app = app(1);
    let commands = press(&mut app, 'f');
    assert_eq!(commands, vec![Command::Io(IoRequest::Sources)]);
    update(
        &mut app,
        Msg::Io(IoResult::Sources(vec!["csv".into(), "web".into()])),
    );
    let Dialog::Filter { choices, .. } = &app.dialog else {
        panic!("a picker");
    };
    assert_eq!(
        choices,
        &vec![
            FilterChoice::All,
            FilterChoice::Sequence("default".into()),
            FilterChoice::Source("csv".into()),
            FilterChoice::Source("web".into()),
        ]
    );
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    let commands = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands[0],
        Command::Io(IoRequest::Counts {
            filter: BoardQuery {
                sequence: None,
                source: Some("csv".into())
            }
        })
    );
    press(&mut app, 'f');
    key(&mut app, KeyCode::Down);
    let commands = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands[0],
        Command::Io(IoRequest::Counts {
            filter: BoardQuery {
                sequence: Some("default".into()),
                source: Some("csv".into())
            }
        })
    );
    press(&mut app, 'f');
    let commands = key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands[0],
        Command::Io(IoRequest::Counts {
            filter: BoardQuery::default()
        })
    );
}

#[test]
fn activity_lines_name_the_lead_and_opening_ends() {
    let mut app = app(1);
    let id = lead(0, Status::Active).id;
    update(
        &mut app,
        Msg::Changed(Change::Activity {
            lead: id,
            who: "Ada Lovelace (Acme)".into(),
            text: "intro (email) sent".into(),
        }),
    );
    assert_eq!(app.activity.lines[0].who, "Ada Lovelace (Acme)");
    app.opening = true;
    update(&mut app, Msg::Opened);
    assert!(!app.opening);
    update(&mut app, Msg::OpenFailed("locked".into()));
    assert!(app.quit);
    assert_eq!(app.fatal.as_deref(), Some("locked"));
}

#[test]
fn a_down_channel_shows_in_the_title_bar() {
    use crate::domain::breaker::Health;
    use crate::engine::ChannelStatus;
    let mut app = app(1);
    assert_eq!(
        update(&mut app, Msg::Opened),
        [Command::Io(IoRequest::Health)]
    );
    // Not again until the refresh interval has passed; then on a tick.
    assert!(!update(&mut app, Msg::Tick).contains(&Command::Io(IoRequest::Health)));
    app.health_asked = Some(Instant::now() - StdDuration::from_secs(6));
    assert!(update(&mut app, Msg::Tick).contains(&Command::Io(IoRequest::Health)));
    update(
        &mut app,
        Msg::Io(IoResult::Health(vec![
            ChannelStatus {
                channel: Channel::Email,
                health: Health::Down {
                    since: start(),
                    reason: "connection refused".into(),
                },
                waiting: 3,
            },
            ChannelStatus {
                channel: Channel::Sms,
                health: Health::Live,
                waiting: 0,
            },
        ])),
    );
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 24)).unwrap();
    crate::tui::draw(&mut terminal, &app).unwrap();
    let title: String = (0..100)
        .map(|x| terminal.backend().buffer()[(x, 0)].symbol().to_string())
        .collect();
    assert!(title.contains("email down (3 waiting)"), "{title}");
    assert!(!title.contains("sms"), "{title}");
}
