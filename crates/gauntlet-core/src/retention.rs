//! Retention policies: how long stored results are kept.

/// How long stored results are kept (days); `None` keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_runs_days: Option<u32>,
    pub keep_transcripts_days: Option<u32>,
    pub anonymise_after_days: Option<u32>,
}

impl RetentionPolicy {
    /// Each field of `self`, else of `fallback`.
    pub fn or(self, fallback: RetentionPolicy) -> RetentionPolicy {
        RetentionPolicy {
            keep_runs_days: self.keep_runs_days.or(fallback.keep_runs_days),
            keep_transcripts_days: self
                .keep_transcripts_days
                .or(fallback.keep_transcripts_days),
            anonymise_after_days: self.anonymise_after_days.or(fallback.anonymise_after_days),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}
