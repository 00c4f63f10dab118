//! The owner's side of the socket: binds `nudge.sock`, reads one JSON
//! request per line and runs it against the engine in this process.

use super::*;

/// Runs one request against the engine; the reply is a JSON value.
fn execute(engine: &Arc<Engine>, request: Request) -> Result<serde_json::Value> {
    let mut handle = EngineHandle::Local(engine.clone());
    let json = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| HandleError::Protocol(e.to_string()))
    };
    match request {
        Request::Add { input } => json(serde_json::to_value(handle.add(&input)?)),
        Request::Import {
            path,
            label,
            options,
        } => json(serde_json::to_value(handle.import(
            &path,
            &label,
            &options,
            &indicatif::ProgressBar::hidden(),
        )?)),
        Request::List { query } => json(serde_json::to_value(handle.list(&query)?)),
        Request::Show { id } => json(serde_json::to_value(handle.show(&id)?)),
        Request::Mark { id, mark, note } => {
            let mark: Mark = mark.parse().map_err(HandleError::Other)?;
            json(serde_json::to_value(handle.mark(
                &id,
                mark,
                note.as_deref(),
            )?))
        }
        Request::Resolve { id, sent } => {
            let how = if sent {
                Resolution::Sent
            } else {
                Resolution::Resend
            };
            json(serde_json::to_value(handle.resolve(&id, how)?))
        }
        Request::Snooze { id, until } => json(serde_json::to_value(handle.snooze(&id, until)?)),
        Request::SendNow { id } => json(serde_json::to_value(handle.send_now(&id)?)),
        Request::Erase { id } => json(serde_json::to_value(handle.erase(&id)?)),
        Request::Status => json(serde_json::to_value(handle.status()?)),
        Request::ChannelHealth => json(serde_json::to_value(handle.channel_health()?)),
        Request::StageCounts { sequence, source } => {
            let counts = handle.stage_counts(&BoardFilter {
                sequence: sequence.as_deref(),
                source: source.as_deref(),
            })?;
            let wire: Vec<(String, usize)> = counts
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect();
            json(serde_json::to_value(wire))
        }
        Request::BoardPage {
            stages,
            sequence,
            source,
            offset,
            limit,
        } => {
            let stages = stages
                .iter()
                .map(|s| s.parse::<Stage>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(HandleError::Other)?;
            json(serde_json::to_value(handle.board_page(
                &stages,
                &BoardFilter {
                    sequence: sequence.as_deref(),
                    source: source.as_deref(),
                },
                offset,
                limit,
            )?))
        }
        Request::Note { id, text } => json(serde_json::to_value(handle.note(&id, &text)?)),
        Request::Edit { id, edit } => json(serde_json::to_value(handle.edit(&id, &edit)?)),
        Request::Search { query, limit } => {
            json(serde_json::to_value(handle.search(&query, limit)?))
        }
        Request::Sources { limit } => json(serde_json::to_value(handle.sources(limit)?)),
        Request::Stats { sequence, source } => {
            json(serde_json::to_value(handle.stats(&BoardFilter {
                sequence: sequence.as_deref(),
                source: source.as_deref(),
            })?))
        }
        Request::Backup { path } => json(serde_json::to_value(handle.backup(&path)?)),
        Request::Check { repair } => json(serde_json::to_value(handle.check(repair)?)),
        Request::Export { .. } | Request::Subscribe => Err(HandleError::Protocol(
            "streaming requests are handled by the connection".into(),
        )),
    }
}

/// Binds the owner's socket, replacing a stale one left by a crashed owner.
/// The caller holds the database lock, so no live owner can be using it.
pub fn bind(data_dir: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is served by another process", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the engine on `listener` until `shutdown` turns true, then removes
/// the socket file.
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::UnixListener,
    data_dir: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(engine.clone(), stream, shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "socket accept failed"),
            },
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
    let _ = std::fs::remove_file(socket_path(&data_dir));
}

async fn write_reply(
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line).await
}

/// One client: requests in, replies out, until it hangs up.
async fn connection(
    engine: Arc<Engine>,
    stream: tokio::net::UnixStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = write_reply(&mut writer, &Reply::Err(format!("bad request: {e}"))).await;
                continue;
            }
        };
        let ok = match request {
            Request::Subscribe => {
                let mut changes = engine.subscribe();
                loop {
                    tokio::select! {
                        change = changes.recv() => match change {
                            Ok(change) => {
                                if write_reply(&mut writer, &Reply::Change(change)).await.is_err() {
                                    return;
                                }
                            }
                            // A slow client missed some; it re-reads what it shows.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
            Request::Export { format } => {
                let engine = engine.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let mut buf = Vec::new();
                    export(engine.store(), format, &mut buf).map(|n| (n, buf))
                })
                .await;
                match result {
                    Ok(Ok((count, bytes))) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let mut ok = true;
                        for chunk in text.split_inclusive('\n') {
                            if write_reply(&mut writer, &Reply::Line(chunk.to_string()))
                                .await
                                .is_err()
                            {
                                ok = false;
                                break;
                            }
                        }
                        ok && write_reply(&mut writer, &Reply::Ok(serde_json::json!(count)))
                            .await
                            .is_ok()
                    }
                    Ok(Err(e)) => write_reply(&mut writer, &Reply::Err(e.to_string()))
                        .await
                        .is_ok(),
                    Err(e) => write_reply(&mut writer, &Reply::Err(e.to_string()))
                        .await
                        .is_ok(),
                }
            }
            request => {
                let engine = engine.clone();
                let reply =
                    match tokio::task::spawn_blocking(move || execute(&engine, request)).await {
                        Ok(Ok(value)) => Reply::Ok(value),
                        Ok(Err(e)) => Reply::Err(e.to_string()),
                        Err(e) => Reply::Err(format!("internal error: {e}")),
                    };
                write_reply(&mut writer, &reply).await.is_ok()
            }
        };
        if !ok {
            return;
        }
    }
}
