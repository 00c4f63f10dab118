//! `nudge` on a terminal (the TUI, attached or with the engine in-process)
//! and `nudge demo`.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Context_;
use super::serve::{Owner, Running, runtime};
use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::handle::{EngineHandle, RemoteEngine};
use crate::tui::Subscription;

/// `nudge demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated hours per real second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Sample leads.
    #[arg(long, default_value_t = 40)]
    pub leads: usize,
}

/// The TUI's settings from the config: keys, themes, bell, the board's sequence.
fn tui_config(
    ctx: &Context_,
    catalog: &Catalog,
    clock: Arc<dyn Clock>,
    mode: &str,
) -> Result<crate::tui::app::AppConfig> {
    use crate::tui::theme::{ColorDepth, Themes};
    let keys = crate::tui::keys::KeyMap::with_overrides(&ctx.config.keys)?;
    let depth = ColorDepth::from_setting(
        &ctx.config.tui.colors,
        std::env::var("COLORTERM").ok().as_deref(),
    );
    let themes = Themes::load(Some(&ctx.paths.config_dir.join("themes")), depth);
    for problem in &themes.problems {
        tracing::warn!("theme: {problem}");
    }
    let sequence = catalog
        .get("default")
        .ok()
        .or_else(|| catalog.iter().next().map(|(s, _)| s))
        .cloned()
        .context("no sequence to show on the board; check `nudge seq list`")?;
    Ok(crate::tui::app::AppConfig {
        sequences: catalog.iter().map(|(s, _)| s.clone()).collect(),
        default_region: ctx.config.general.default_region.clone(),
        filter: catalog.iter().count() > 1,
        sequence,
        keys,
        themes,
        theme: ctx.config.tui.theme.clone(),
        clock,
        user_zone: crate::tui::app::UserZone::Local,
        default_tz: ctx.config.general.default_tz,
        bell: ctx.config.alerts.bell(&ctx.config.tui),
        idle_tick: if mode == "demo" {
            std::time::Duration::from_millis(500)
        } else {
            crate::tui::IDLE_TICK
        },
        mode: mode.to_string(),
    })
}

/// `nudge` on a terminal: attach to a running `nudge serve`, or run the
/// engine, the worker and the socket in this process with the TUI on top.
pub(super) fn tui(ctx: &Context_) -> Result<()> {
    let data_dir = ctx.paths.data_dir.clone();
    // The board's chrome needs only the sequences; the database (slow to
    // open when large) opens on the TUI's I/O thread after the first frame.
    let catalog = ctx.catalog()?;
    if let Some(remote) = RemoteEngine::connect(&data_dir) {
        let config = tui_config(ctx, &catalog, Arc::new(SystemClock), "attached")?;
        crate::tui::run_terminal(
            Box::new(move || Ok((EngineHandle::Remote(remote), Subscription::Remote(data_dir)))),
            config,
        )?;
        return Ok(());
    }
    let config = tui_config(ctx, &catalog, Arc::new(SystemClock), "local")?;
    let started: Arc<std::sync::Mutex<Option<Running>>> = Arc::default();
    let slot = started.clone();
    let owned = ctx.clone();
    // Dropped when the opener has finished (or was never run): a quit while
    // the database is still opening waits for it, then stops cleanly.
    let (opened_tx, opened) = std::sync::mpsc::channel::<()>();
    let result = crate::tui::run_terminal(
        Box::new(move || {
            let _opened = opened_tx;
            let run = Running::start(&owned, Owner::Tui).map_err(|e| format!("{e:#}"))?;
            let handle = EngineHandle::Local(run.engine.clone());
            let changes = Subscription::Local(run.engine.subscribe());
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
            Ok((handle, changes))
        }),
        config,
    );
    // Err means the opener is done: nothing is ever sent on this channel.
    let _ = opened.recv();
    let run = started.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(run) = run {
        run.stop()?;
    }
    result?;
    Ok(())
}

/// `nudge demo`: the TUI over [`crate::demo::Demo`].
pub(super) fn demo(ctx: &Context_, args: &DemoArgs) -> Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        bail!("--speed must be a positive number of simulated hours per second");
    }
    let options = crate::demo::DemoOptions {
        speed: args.speed * 3600.0,
        leads: args.leads.clamp(1, 10_000),
    };
    let catalog = ctx.catalog()?;
    let start = crate::demo::demo_start(SystemClock.now());
    let demo = Arc::new(crate::demo::Demo::new(
        catalog,
        ctx.settings(),
        start,
        &options,
    )?);
    let config = tui_config(ctx, demo.engine.catalog(), demo.clock.clone(), "demo")?;
    let runtime = runtime(1)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let driver = {
        let demo = demo.clone();
        runtime.spawn(async move { demo.drive(options.speed, stopped).await })
    };
    let engine = demo.engine.clone();
    let result = crate::tui::run_terminal(
        Box::new(move || {
            let changes = Subscription::Local(engine.subscribe());
            Ok((EngineHandle::Local(engine), changes))
        }),
        config,
    );
    let _ = stop.send(true);
    let _ = runtime.block_on(driver);
    result?;
    Ok(())
}
