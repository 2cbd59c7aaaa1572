//! Cassettes as files: one pretty-printed JSON document per interaction under
//! `.gauntlet/cassettes/SUITE/`, named by its key, so recordings diff well and can be committed.

use std::path::PathBuf;

use gauntlet_core::TenantId;
use gauntlet_engine::cassette::CassetteStore;
use gauntlet_store::CassetteRecords;
use gauntlet_store::sqlite::SqliteStore;
use serde_json::Value;

/// Files first (they can be committed and reviewed), mirrored into the result store.
pub struct StoredCassettes {
    pub files: DirCassettes,
    pub db: SqliteStore,
    pub suite: String,
}

impl CassetteStore for StoredCassettes {
    fn get(&self, key: &str) -> Option<Value> {
        self.files.get(key).or_else(|| {
            self.db
                .get_cassette(&TenantId::local(), &self.suite, key)
                .ok()
                .flatten()
        })
    }

    fn put(&self, key: &str, entry: &Value) -> Result<(), String> {
        self.files.put(key, entry)?;
        self.db
            .put_cassette(&TenantId::local(), &self.suite, key, entry)
            .map_err(|e| e.to_string())
    }
}

pub struct DirCassettes {
    pub root: PathBuf,
}

impl DirCassettes {
    fn path(&self, key: &str) -> PathBuf {
        self.root
            .join(&key[..2.min(key.len())])
            .join(format!("{key}.json"))
    }
}

impl CassetteStore for DirCassettes {
    fn get(&self, key: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn put(&self, key: &str, entry: &Value) -> Result<(), String> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(entry).map_err(|e| e.to_string())?;
        text.push('\n');
        // Written whole or not at all: a temporary file renamed into place.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }
}
