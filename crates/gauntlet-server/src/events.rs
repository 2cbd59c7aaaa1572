//! Live run events: one JSON format, served over Server-Sent Events and WebSocket.
//!
//! Each event is an object with `type` (`status`, `case`, `end`), `run_id`, and fields per
//! type (documented in `docs/server.md`). Events are fanned out in-process; a client that
//! connects late first receives the run's current status.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::broadcast;

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Value>>>,
}

impl Hub {
    pub fn subscribe(&self, run: &str) -> broadcast::Receiver<Value> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(run.to_owned())
            .or_insert_with(|| broadcast::channel(1024).0)
            .subscribe()
    }

    pub fn publish(&self, run: &str, event: Value) {
        let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(run) {
            let _ = tx.send(event);
        }
    }

    /// Drops the channel of a finished run once its last event is out.
    pub fn close(&self, run: &str) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(run);
    }
}
