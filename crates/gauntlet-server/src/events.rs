//! Live run events: one JSON format, served over Server-Sent Events and WebSocket.
//!
//! Each event is an object with `type` (`snapshot`, `status`, `case`, `end`), `run_id`, and
//! fields per type (documented in the README). Events are fanned out in-process and numbered
//! per run; the last [`BACKLOG`] are kept, so a client that reconnects with the number of the
//! last event it saw (`Last-Event-ID`) receives exactly the events it missed. A client that
//! connects fresh, or whose gap is too old, first receives a `snapshot`: the run's counts as of
//! the number it carries, taken under the same lock as its subscription, so nothing is
//! counted twice or lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Events kept per run for clients that reconnect.
pub const BACKLOG: usize = 4096;

/// A numbered event.
pub type Numbered = (u64, Value);

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, Channel>>,
}

struct Channel {
    tx: broadcast::Sender<Numbered>,
    seq: u64,
    backlog: VecDeque<Numbered>,
    planned: Option<u64>,
    /// Cases recorded so far: passed, failed, errored.
    counts: [u64; 3],
}

impl Channel {
    fn new() -> Channel {
        Channel {
            tx: broadcast::channel(1024).0,
            seq: 0,
            backlog: VecDeque::new(),
            planned: None,
            counts: [0; 3],
        }
    }
}

/// What a subscriber receives before the live events.
pub enum Start {
    /// The events after the one it last saw.
    Missed(Vec<Numbered>),
    /// The run as of event `seq`: its counts and planned cases, if this process runs it.
    Fresh {
        seq: u64,
        counts: Option<[u64; 3]>,
        planned: Option<u64>,
    },
}

impl Hub {
    /// Subscribes to a run's events after event `after` (none: from now). A run that ended
    /// gets no channel (there will be no events, and its channel would never be closed).
    pub fn subscribe(
        &self,
        run: &str,
        after: Option<u64>,
        ended: bool,
    ) -> (Start, broadcast::Receiver<Numbered>) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let known = map.contains_key(run);
        if ended && !known {
            let (_, rx) = broadcast::channel(1);
            return (
                Start::Fresh {
                    seq: 0,
                    counts: None,
                    planned: None,
                },
                rx,
            );
        }
        let ch = map.entry(run.to_owned()).or_insert_with(Channel::new);
        let rx = ch.tx.subscribe();
        if let Some(after) = after {
            let oldest = ch.backlog.front().map_or(ch.seq + 1, |(n, _)| *n);
            if after <= ch.seq && after + 1 >= oldest {
                let missed = ch
                    .backlog
                    .iter()
                    .filter(|(n, _)| *n > after)
                    .cloned()
                    .collect();
                return (Start::Missed(missed), rx);
            }
        }
        (
            Start::Fresh {
                seq: ch.seq,
                counts: known.then_some(ch.counts),
                planned: ch.planned,
            },
            rx,
        )
    }

    /// Starts counting a run's cases from those already recorded (a resumed run).
    pub fn open(&self, run: &str, counts: [u64; 3], planned: u64) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let ch = map.entry(run.to_owned()).or_insert_with(Channel::new);
        ch.counts = counts;
        ch.planned = Some(planned);
    }

    pub fn publish(&self, run: &str, event: Value) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ch) = map.get_mut(run) else { return };
        ch.seq += 1;
        if event["type"] == "case" {
            let i = match event["status"].as_str() {
                Some("passed") => 0,
                Some("failed") => 1,
                _ => 2,
            };
            ch.counts[i] += 1;
        }
        if let Some(p) = event["planned"].as_u64() {
            ch.planned = Some(p);
        }
        let numbered = (ch.seq, event);
        ch.backlog.push_back(numbered.clone());
        if ch.backlog.len() > BACKLOG {
            ch.backlog.pop_front();
        }
        let _ = ch.tx.send(numbered);
    }

    /// Drops the channel of a finished run once its last event is out.
    pub fn close(&self, run: &str) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(run);
    }
}

/// The snapshot event.
pub fn snapshot(run: &str, state: &str, counts: [u64; 3], planned: Option<u64>) -> Value {
    json!({
        "type": "snapshot", "run_id": run, "state": state,
        "passed": counts[0], "failed": counts[1], "errored": counts[2], "planned": planned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnecting_client_gets_exactly_what_it_missed() {
        let hub = Hub::default();
        let (start, _rx) = hub.subscribe("r", None, false);
        assert!(matches!(start, Start::Fresh { seq: 0, .. }));
        for i in 0..5 {
            hub.publish("r", json!({"type": "case", "index": i, "status": "passed"}));
        }
        let (start, _rx) = hub.subscribe("r", Some(3), false);
        let Start::Missed(missed) = start else {
            panic!("expected a replay")
        };
        assert_eq!(
            missed.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![4, 5]
        );
        let (start, _rx) = hub.subscribe("r", None, false);
        let Start::Fresh { seq, counts, .. } = start else {
            panic!("expected a snapshot")
        };
        assert_eq!((seq, counts), (5, Some([5, 0, 0])));
    }

    #[test]
    fn a_gap_older_than_the_backlog_gets_a_snapshot() {
        let hub = Hub::default();
        let _ = hub.subscribe("r", None, false);
        for i in 0..(BACKLOG + 10) {
            hub.publish("r", json!({"type": "case", "index": i, "status": "failed"}));
        }
        let (start, _rx) = hub.subscribe("r", Some(2), false);
        assert!(
            matches!(start, Start::Fresh { counts: Some([0, c, 0]), .. } if c == (BACKLOG + 10) as u64)
        );
        // An id from the future (another process's numbering) is not trusted either.
        let (start, _rx) = hub.subscribe("r", Some(u64::MAX - 1), false);
        assert!(matches!(start, Start::Fresh { .. }));
    }
}
