//! `gauntlet audit verify`: recompute every leaf from its event, rebuild the tree, compare each
//! stored tree head and check its signature. Problems name the first bad index where the
//! evidence allows; see ARCHITECTURE.md ("Audit trust model") for what can and cannot be seen.

use serde::Serialize;

use crate::AuditError;
use crate::event::StoredEvent;
use crate::log::{AuditStorage, Checkpoint};
use crate::merkle::{self, Frontier};
use crate::signer::TrustedKeys;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// An event's content no longer matches the leaf hash stored when it was appended.
    ModifiedEvent,
    /// An event sits at another index than the one it was appended at.
    ReorderedEvent,
    /// Indexes are missing from the sequence.
    MissingEvent,
    /// Events beyond every tree head: added after the fact.
    UncoveredEvent,
    /// A stored tree head does not match the events (their hashes were rewritten too).
    TreeHeadMismatch,
    /// A checkpoint whose signature does not verify with a trusted key.
    ForgedCheckpoint,
    /// The newest tree head has no signature, so the events after the last signed one are
    /// unprotected.
    UnsignedHead,
    /// Tree heads cover events the log no longer has.
    TruncatedLog,
    /// The log disagrees with a tree head the verifier saw earlier.
    WitnessMismatch,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The first event index the problem concerns, when it can be named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub events: u64,
    pub checkpoints: usize,
    pub signed_checkpoints: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_signed: Option<Checkpoint>,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn first_bad_index(&self) -> Option<u64> {
        self.problems.iter().filter_map(|p| p.index).min()
    }
}

/// How many indexes to try when looking for where a misplaced event came from.
const REORDER_SEARCH: u64 = 2_000_000;

/// Verifies the whole log against `trusted` keys, and against `witness`, a tree head saved
/// earlier (from `gauntlet audit head`), when given.
pub fn verify(
    storage: &dyn AuditStorage,
    trusted: &TrustedKeys,
    witness: Option<&Checkpoint>,
) -> Result<Verification, AuditError> {
    let checkpoints = storage.checkpoints()?;
    let mut v = Verification {
        events: 0,
        checkpoints: checkpoints.len(),
        signed_checkpoints: 0,
        latest_signed: None,
        problems: Vec::new(),
    };
    let mut next_cp = 0usize;
    let mut frontier = Frontier::new();
    let mut expected = 0u64;
    let mut last_good = 0u64;
    let mut mismatches = 0u64;
    let mut modified_seen = false;
    let bound = checkpoints.last().map_or(0, |c| c.tree_size);
    let mut witness_checked = witness.is_none_or(|w| w.tree_size == 0);

    let mut at_size = |frontier: &Frontier, v: &mut Verification, next_cp: &mut usize| {
        let size = frontier.size();
        if let Some(w) = witness.filter(|w| w.tree_size == size) {
            witness_checked = true;
            if w.root != merkle::to_hex(&frontier.root()) {
                v.problems.push(Problem {
                    kind: ProblemKind::WitnessMismatch,
                    index: Some(last_good.min(size.saturating_sub(1))),
                    message: format!(
                        "the log's tree of size {size} differs from the head you saved ({}): history was rewritten",
                        w.root
                    ),
                });
            }
        }
        while let Some(cp) = checkpoints.get(*next_cp).filter(|c| c.tree_size == size) {
            *next_cp += 1;
            let root_ok = cp.root == merkle::to_hex(&frontier.root());
            if root_ok {
                last_good = size;
            } else {
                mismatches += 1;
                if mismatches == 1 {
                    let precise = v
                        .problems
                        .iter()
                        .any(|p| p.index.is_some_and(|i| i >= last_good && i < size));
                    v.problems.push(Problem {
                        kind: ProblemKind::TreeHeadMismatch,
                        index: (!precise).then_some(last_good),
                        message: format!(
                            "the tree head of size {size} does not match the events: an event in {last_good}..{} was altered, inserted, removed or reordered",
                            size - 1
                        ),
                    });
                }
            }
            match &cp.signature {
                None => {}
                Some(_) => match cp.verify(trusted) {
                    Ok(()) => {
                        v.signed_checkpoints += 1;
                        v.latest_signed = Some(cp.clone());
                    }
                    Err(e) => v.problems.push(Problem {
                        kind: ProblemKind::ForgedCheckpoint,
                        index: None,
                        message: format!("the checkpoint of size {size}: {e}"),
                    }),
                },
            }
        }
    };

    // Checkpoints of size 0 (none are written, but a forged one would be) are checked first.
    at_size(&frontier, &mut v, &mut next_cp);
    storage.for_each_event(&mut |stored| {
        let seq = stored.event.seq;
        if seq > expected {
            v.problems.push(Problem {
                kind: ProblemKind::MissingEvent,
                index: Some(expected),
                message: if seq == expected + 1 {
                    format!("event {expected} is missing (deleted)")
                } else {
                    format!("events {expected}..{} are missing (deleted)", seq - 1)
                },
            });
        }
        expected = seq + 1;
        let leaf = stored.event.leaf_hash();
        if leaf != stored.leaf_hash && !modified_seen {
            // Only the first is searched for its original position: the search is O(n).
            modified_seen = true;
            v.problems
                .push(misplaced_or_modified(&stored, bound.max(seq + 1)));
        } else if leaf != stored.leaf_hash {
            v.problems.push(Problem {
                kind: ProblemKind::ModifiedEvent,
                index: Some(seq),
                message: format!("event {seq} no longer matches its leaf hash"),
            });
        }
        frontier.push(leaf);
        v.events += 1;
        at_size(&frontier, &mut v, &mut next_cp);
        Ok(())
    })?;
    if mismatches > 1 {
        v.problems.push(Problem {
            kind: ProblemKind::TreeHeadMismatch,
            index: None,
            message: format!("{} later tree heads do not match either", mismatches - 1),
        });
    }
    let size = frontier.size();
    if let Some(cp) = checkpoints.get(next_cp) {
        v.problems.push(Problem {
            kind: ProblemKind::TruncatedLog,
            index: Some(size),
            message: format!(
                "a tree head covers {} events but the log holds {size}: events were deleted or reordered",
                cp.tree_size
            ),
        });
    }
    let covered = checkpoints.last().map_or(0, |c| c.tree_size);
    if size > covered {
        v.problems.push(Problem {
            kind: ProblemKind::UncoveredEvent,
            index: Some(covered),
            message: format!(
                "events {covered}..{} are not covered by any tree head: they were added outside Gauntlet",
                size - 1
            ),
        });
    }
    if let Some(last) = checkpoints.last()
        && last.signature.is_none()
    {
        let signed = v.latest_signed.as_ref().map_or(0, |c| c.tree_size);
        v.problems.push(Problem {
            kind: ProblemKind::UnsignedHead,
            index: Some(signed),
            message: format!(
                "the newest tree head (size {}) is not signed, so events {signed}..{} are unprotected; the next append signs a head covering them",
                last.tree_size,
                last.tree_size.saturating_sub(1)
            ),
        });
    }
    if let Some(w) = witness {
        if !witness_checked {
            v.problems.push(Problem {
                kind: ProblemKind::WitnessMismatch,
                index: Some(size),
                message: format!(
                    "the log holds {size} events, but the head you saved covers {}: events were deleted",
                    w.tree_size
                ),
            });
        }
        if let Err(e) = w.verify(trusted) {
            v.problems.push(Problem {
                kind: ProblemKind::ForgedCheckpoint,
                index: None,
                message: format!("the saved head: {e}"),
            });
        }
    }
    v.problems.sort_by_key(|p| p.index.unwrap_or(u64::MAX));
    Ok(v)
}

/// Tells a moved event from an edited one: a moved event still matches its stored leaf hash
/// when its original index is put back.
fn misplaced_or_modified(stored: &StoredEvent, events: u64) -> Problem {
    let seq = stored.event.seq;
    let mut probe = stored.event.clone();
    for original in 0..(events + 1).min(REORDER_SEARCH) {
        if original == seq {
            continue;
        }
        probe.seq = original;
        if probe.leaf_hash() == stored.leaf_hash {
            return Problem {
                kind: ProblemKind::ReorderedEvent,
                index: Some(seq.min(original)),
                message: format!(
                    "the event at index {seq} was appended at index {original}: events were reordered"
                ),
            };
        }
    }
    Problem {
        kind: ProblemKind::ModifiedEvent,
        index: Some(seq),
        message: format!("event {seq} was modified: its content no longer matches its leaf hash"),
    }
}
