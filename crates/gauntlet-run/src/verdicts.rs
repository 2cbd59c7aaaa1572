//! `llm-judge` verdicts cached in the result store, per tenant.

use gauntlet_core::TenantId;
use gauntlet_store::{JudgeVerdicts, Store};
use serde_json::Value;

pub struct StoredVerdicts {
    store: Store,
    tenant: TenantId,
}

impl StoredVerdicts {
    pub fn new(store: Store, tenant: TenantId) -> StoredVerdicts {
        StoredVerdicts { store, tenant }
    }
}

impl gauntlet_engine::JudgeCache for StoredVerdicts {
    fn get(&self, key: &str) -> Option<Value> {
        self.store.get_verdict(&self.tenant, key).ok().flatten()
    }

    fn put(&self, key: &str, verdict: &Value) -> Result<(), String> {
        let at = gauntlet_core::time::rfc3339(crate::now_ms());
        self.store
            .put_verdict(&self.tenant, key, verdict, &at)
            .map_err(|e| e.to_string())
    }
}
