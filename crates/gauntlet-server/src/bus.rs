//! What crosses processes when several share one PostgreSQL database: a run's live events
//! (a worker on one machine, the subscriber's API process on another), cancel and pause
//! (reaching the worker that executes the run), and the wake-up of idle workers when a run is
//! queued.
//!
//! Notes travel by `NOTIFY`, batched into as few payloads as fit, on two channels: live
//! events (followed by processes serving the API) and signals (followed by processes with
//! workers), so that a worker does not parse every event of every other worker. They only
//! make the other processes act sooner: every decision is still taken from the rows. A lost
//! cancel or pause reaches the worker at its next heartbeat (a third of the lease); a lost
//! wake-up, at its next claim poll (half a second). Live events are best effort, as they are
//! within one process: the recorded cases and the run's state are in the database.
//!
//! On SQLite one process owns the file, so there is nobody to tell and the bus is silent.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::AppState;
use crate::audit::tracing_error;

/// The channel of live run events, which processes serving the API follow.
pub const EVENTS: &str = "gauntlet_run_events";
/// The channel of cancels, pauses and wake-ups, which processes with workers follow. Apart,
/// so that workers do not parse every event of every other worker.
pub const SIGNALS: &str = "gauntlet_run_signals";

/// One thing another process should know.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Note {
    /// A run started executing here: its cases so far and how many are planned.
    Open {
        run: String,
        counts: [u64; 3],
        planned: u64,
    },
    /// A live event of a run.
    Event { run: String, event: Value },
    /// A run ended: its channel can go once the last event is out.
    Close { run: String },
    /// Stop a run where it executes: cancel (`true`) or pause.
    Signal { run: String, cancel: bool },
    /// A run was queued or resumed: idle workers should claim.
    Wake,
}

impl Note {
    fn channel(&self) -> &'static str {
        match self {
            Note::Open { .. } | Note::Event { .. } | Note::Close { .. } => EVENTS,
            Note::Signal { .. } | Note::Wake => SIGNALS,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending process ([`crate::ServerConfig::instance`]), which ignores its own notes.
    origin: String,
    notes: Vec<Note>,
}

/// Notes waiting to be sent, at most this many (past it, events are dropped: they are best
/// effort, and the bound keeps a stalled database from growing the process).
const QUEUED: usize = 8192;

pub struct Bus {
    tx: Option<mpsc::Sender<Note>>,
}

impl Bus {
    /// Starts the sender on PostgreSQL (a silent bus on SQLite). Must be called inside a
    /// tokio runtime.
    pub fn start(db: &gauntlet_store::db::Db, origin: &str) -> Bus {
        if db.dialect() == gauntlet_store::db::Dialect::Sqlite {
            return Bus { tx: None };
        }
        let (tx, mut rx) = mpsc::channel::<Note>(QUEUED);
        let (db, origin) = (db.clone(), origin.to_owned());
        tokio::spawn(async move {
            let mut told = false;
            while let Some(first) = rx.recv().await {
                let mut notes = vec![first];
                while notes.len() < 512
                    && let Ok(n) = rx.try_recv()
                {
                    notes.push(n);
                }
                let (events, signals): (Vec<Note>, Vec<Note>) =
                    notes.into_iter().partition(|n| n.channel() == EVENTS);
                let payloads: Vec<(&str, String)> = pack(&origin, events)
                    .into_iter()
                    .map(|p| (EVENTS, p))
                    .chain(pack(&origin, signals).into_iter().map(|p| (SIGNALS, p)))
                    .collect();
                let db = db.clone();
                let sent = tokio::task::spawn_blocking(move || {
                    payloads
                        .iter()
                        .try_for_each(|(channel, p)| db.notify(channel, p))
                        .map_err(|e| e.to_string())
                })
                .await;
                match sent {
                    Ok(Ok(())) => told = false,
                    Ok(Err(e)) if !told => {
                        told = true;
                        tracing_error(&format!("telling other processes about runs: {e}"));
                    }
                    _ => {}
                }
            }
        });
        Bus { tx: Some(tx) }
    }

    /// Whether notes go anywhere (PostgreSQL).
    pub fn carries(&self) -> bool {
        self.tx.is_some()
    }

    pub fn send(&self, note: Note) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(note);
        }
    }
}

/// Envelopes of at most [`MAX_PAYLOAD`](gauntlet_store::db::notes::MAX_PAYLOAD) bytes, in
/// order; a note too large for one on its own is dropped.
fn pack(origin: &str, notes: Vec<Note>) -> Vec<String> {
    let limit = gauntlet_store::db::notes::MAX_PAYLOAD;
    let empty = serde_json::to_string(&Envelope {
        origin: origin.to_owned(),
        notes: Vec::new(),
    })
    .unwrap_or_default()
    .len();
    let mut out = Vec::new();
    let (mut batch, mut size) = (Vec::new(), empty);
    for note in notes {
        let len = serde_json::to_string(&note).map_or(usize::MAX, |s| s.len() + 1);
        if empty.saturating_add(len) > limit {
            continue;
        }
        if size + len > limit {
            out.push(std::mem::take(&mut batch));
            size = empty;
        }
        size += len;
        batch.push(note);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out.into_iter()
        .filter_map(|notes| {
            serde_json::to_string(&Envelope {
                origin: origin.to_owned(),
                notes,
            })
            .ok()
        })
        .collect()
}

/// Applies other processes' notes here, until shutdown (nothing on SQLite): live events when
/// this process serves the API (`api`), signals and wake-ups when it has workers.
pub fn listen(app: &AppState, api: bool) {
    if api {
        follow(app, EVENTS);
    }
    if app.config.workers > 0 {
        follow(app, SIGNALS);
    }
}

fn follow(app: &AppState, channel: &'static str) {
    let Some(mut heard) = app.db.listen(channel) else {
        return;
    };
    let app = std::sync::Arc::clone(app);
    tokio::spawn(async move {
        let mut stop = app.stopping.subscribe();
        let mut told = false;
        loop {
            let h = tokio::select! {
                h = heard.recv() => h,
                _ = stop.changed() => return,
            };
            match h {
                None => return,
                Some(gauntlet_store::db::notes::Heard::Note(payload)) => {
                    let Ok(env) = serde_json::from_str::<Envelope>(&payload) else {
                        continue;
                    };
                    if env.origin != app.config.instance {
                        env.notes.into_iter().for_each(|n| apply(&app, n));
                    }
                }
                Some(gauntlet_store::db::notes::Heard::Connected) => {
                    if told {
                        tracing_error(&format!("listening on `{channel}` again"));
                    }
                    told = false;
                    // Whatever was queued while nobody listened is claimable now.
                    if channel == SIGNALS {
                        app.wake.notify_waiters();
                    }
                }
                Some(gauntlet_store::db::notes::Heard::Lost(e)) => {
                    if !told {
                        tracing_error(&format!(
                            "{e}; {} until it is back",
                            if channel == SIGNALS {
                                "cancels reach this process's runs at their heartbeat"
                            } else {
                                "runs executing elsewhere send this process no live events"
                            }
                        ));
                    }
                    told = true;
                }
            }
        }
    });
}

fn apply(app: &AppState, note: Note) {
    match note {
        Note::Open {
            run,
            counts,
            planned,
        } => app.hub.open(&run, counts, planned),
        Note::Event { run, event } => app.hub.publish(&run, event),
        Note::Close { run } => app.hub.close(&run),
        Note::Signal { run, cancel } => app.running.signal(&run, cancel),
        Note::Wake => app.wake.notify_waiters(),
    }
}

impl crate::App {
    /// Publishes a live event of a run to subscribers here and in every other process.
    pub fn publish(&self, run: &str, event: Value) {
        if !self.bus.carries() {
            // SQLite: nobody else to tell, so the event is not copied for them.
            return self.hub.publish(run, event);
        }
        self.hub.publish(run, event.clone());
        self.bus.send(Note::Event {
            run: run.to_owned(),
            event,
        });
    }

    /// A run starts executing here, with the cases it recorded before.
    pub fn open_run(&self, run: &str, counts: [u64; 3], planned: u64) {
        self.hub.open(run, counts, planned);
        self.bus.send(Note::Open {
            run: run.to_owned(),
            counts,
            planned,
        });
    }

    /// A run ended: its event channels go once the last event is out.
    pub fn close_run(&self, run: &str) {
        self.hub.close(run);
        self.bus.send(Note::Close {
            run: run.to_owned(),
        });
    }

    /// Stops a run wherever it executes: here at once, elsewhere when the note arrives (or
    /// at its heartbeat).
    pub fn signal_run(&self, run: &str, cancel: bool) {
        self.running.signal(run, cancel);
        self.bus.send(Note::Signal {
            run: run.to_owned(),
            cancel,
        });
    }

    /// Wakes idle workers here and in every other process: a run is claimable.
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
        self.bus.send(Note::Wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_packed_in_order_under_the_limit_and_an_oversized_one_is_dropped() {
        let mut notes: Vec<Note> = (0..400)
            .map(|i| Note::Event {
                run: format!("run-{i}"),
                event: serde_json::json!({"type": "case", "index": i, "status": "passed", "case": "x".repeat(40)}),
            })
            .collect();
        notes.insert(
            7,
            Note::Event {
                run: "huge".into(),
                event: serde_json::json!({"error": "e".repeat(9000)}),
            },
        );
        let payloads = pack("me", notes);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for p in &payloads {
            assert!(
                p.len() <= gauntlet_store::db::notes::MAX_PAYLOAD,
                "{}",
                p.len()
            );
            let env: Envelope = serde_json::from_str(p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(env.origin, "me");
            for n in env.notes {
                let Note::Event { run, .. } = n else {
                    panic!("not an event")
                };
                seen.push(run);
            }
        }
        let expected: Vec<String> = (0..400).map(|i| format!("run-{i}")).collect();
        assert_eq!(seen, expected);
    }
}
