//! `nudge serve`, and the services starter it shares with the in-process TUI:
//! the worker, the EngineHandle socket, inbound HTTP, alerts and the IMAP watch.

use std::sync::Arc;

use anyhow::{Context, Result};

use super::Context_;
use super::doctor::Checkup;
use crate::channels::Transports;
use crate::engine::Engine;
use crate::engine::worker::{Worker, WorkerOptions};

pub(super) fn serve(ctx: &Context_) -> Result<()> {
    let Running {
        engine,
        runtime,
        stop,
        services,
        _log,
    } = Running::start(ctx, Owner::Serve)?;
    // The socket, the worker and the HTTP server are up: `systemctl start`
    // (Type=notify) returns now.
    crate::service::notify_ready();
    runtime.block_on(async {
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            crate::service::notify_stopping();
            tracing::info!("stopping: finishing in-flight sends");
            let _ = stop.send(true);
        });
        services.join().await
    })?;
    engine.store().flush()?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// An async runtime with `workers` threads (2 cores is the target machine);
/// 0 runs everything on the calling thread.
pub(super) fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Who owns the database while the services run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// `nudge serve`: logs to stderr too, and a port that cannot be bound is an error.
    Serve,
    /// The TUI with the engine in-process: the screen is the TUI's, and HTTP is optional.
    Tui,
}

/// The engine and its services running on their own runtime, in the
/// process that owns the database.
pub(super) struct Running {
    pub(super) engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::watch::Sender<bool>,
    services: Services,
    _log: tracing_appender::non_blocking::WorkerGuard,
}

impl Running {
    /// Opens the database and starts the services. `nudge serve` prints
    /// the doctor's summary first. Neither starts when a sequence's
    /// templates use a sender setting that is empty on a live channel:
    /// failing at start, naming the keys, beats a founder's first live
    /// emails going out with holes (and a held backlog nobody sees).
    pub(super) fn start(ctx: &Context_, owner: Owner) -> Result<Running> {
        let data_dir = &ctx.paths.data_dir;
        let engine = Arc::new(ctx.engine()?);
        let next_due = engine.status().ok().map(|s| s.next_due);
        let checkup = Checkup::examine(ctx, engine.catalog(), next_due);
        if owner == Owner::Serve {
            checkup.write(ctx, &mut std::io::stderr().lock())?;
        }
        checkup.refuse_live_gaps(ctx)?;
        let stderr = match owner {
            Owner::Serve => crate::logging::Stderr::detect(),
            Owner::Tui => crate::logging::Stderr::Off,
        };
        let log = crate::logging::init(data_dir, stderr)?;
        engine
            .store()
            .check_after_crash(crate::store::STARTUP_CHECK_BUDGET);
        match owner {
            Owner::Serve => {
                tracing::info!(data_dir = %data_dir.display(), "nudge serve starting")
            }
            Owner::Tui => {
                tracing::info!(data_dir = %data_dir.display(), "nudge TUI starting with the engine in-process")
            }
        }
        let runtime = runtime(2)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let services = runtime.block_on(Services::start(
            ctx,
            engine.clone(),
            stopped,
            owner == Owner::Serve,
        ))?;
        Ok(Running {
            engine,
            runtime,
            stop,
            services,
            _log: log,
        })
    }

    /// Stops the services and makes every write durable.
    pub(super) fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        if let Err(e) = self.runtime.block_on(self.services.join()) {
            tracing::error!(error = %e, "the engine stopped with an error");
        }
        self.engine.store().flush()?;
        Ok(())
    }
}

/// Everything the process that owns the database runs beside the engine:
/// the worker, the EngineHandle socket, the inbound HTTP server, the alert
/// webhooks and the IMAP watch. Started the same way by `nudge serve` and by the in-process TUI.
struct Services {
    worker: tokio::task::JoinHandle<Result<(), crate::engine::EngineError>>,
    others: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Starts every service; they stop when `stopped` turns true. With
    /// `http_required`, a port that cannot be bound is an error; otherwise
    /// (the TUI) it is logged and the rest runs without HTTP.
    async fn start(
        ctx: &Context_,
        engine: Arc<Engine>,
        stopped: tokio::sync::watch::Receiver<bool>,
        http_required: bool,
    ) -> Result<Services> {
        let transports = Transports::from_config(&ctx.config)?;
        tracing::info!("{}", transports.email.describe());
        tracing::info!("{}", transports.sms.describe());
        match &transports.call {
            Some(call) => tracing::info!("{}", call.describe()),
            None => tracing::info!("call: tasks for you (`nudge mark ID called`)"),
        }
        match &transports.llm {
            Some(llm) => tracing::info!("{}", llm.describe()),
            None => tracing::info!("ai: off (plain templates)"),
        }
        let data_dir = ctx.paths.data_dir.clone();
        let socket = crate::handle::bind(&data_dir).with_context(|| {
            format!(
                "cannot listen on {}",
                crate::handle::socket_path(&data_dir).display()
            )
        })?;
        tracing::info!(
            socket = %crate::handle::socket_path(&data_dir).display(),
            "other nudge commands on this data dir talk to this process"
        );
        let mut others = vec![tokio::spawn(crate::handle::serve(
            engine.clone(),
            socket,
            data_dir,
            stopped.clone(),
        ))];
        let address = ctx.config.server.listen.trim();
        if !address.is_empty() {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    tracing::info!(address, "inbound HTTP: intake, unsubscribe, webhooks");
                    let inbound = Arc::new(crate::inbound::Inbound::from_config(
                        engine.clone(),
                        &ctx.config,
                    ));
                    let http = crate::inbound::launch(listener, inbound, stopped.clone());
                    others.push(tokio::spawn(async move {
                        if let Err(e) = http.await {
                            tracing::error!(error = %e, "inbound HTTP stopped");
                        }
                    }));
                }
                Err(e) if http_required => {
                    return Err(anyhow::Error::from(e)
                        .context(format!("cannot listen on {address} ([server] listen)")));
                }
                Err(e) => {
                    tracing::warn!(address, error = %e, "inbound HTTP not started ([server] listen)")
                }
            }
        }
        if let Some(alerter) = crate::alerts::Alerter::from_config(&ctx.config.alerts)? {
            tracing::info!("{}", alerter.describe());
            others.push(tokio::spawn(
                alerter.run(engine.subscribe_alerts(), stopped.clone()),
            ));
        }
        if let Some(watcher) =
            crate::inbound::imap::Watcher::from_config(engine.clone(), &ctx.config.imap)?
        {
            tracing::info!("{}", watcher.describe());
            others.push(tokio::spawn(watcher.run(stopped.clone())));
        }
        let worker = Arc::new(Worker::new(
            engine,
            transports.into(),
            WorkerOptions::from_config(&ctx.config),
        ));
        Ok(Services {
            worker: tokio::spawn(worker.run(stopped)),
            others,
        })
    }

    /// Waits for every service to finish (after the stop signal).
    async fn join(self) -> Result<()> {
        let result = self.worker.await;
        for task in self.others {
            let _ = task.await;
        }
        match result {
            Ok(result) => Ok(result?),
            Err(e) => Err(anyhow::anyhow!("the worker task failed: {e}")),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
