//! Per-provider resilience: an adaptive concurrency limit (AIMD), a circuit breaker, and the
//! routing of an agent's calls through its provider's fallback chain.
//!
//! One [`Guarded`] provider exists per provider definition, shared by every agent that uses
//! it, so that a 429 seen by one case slows all of them down.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_core::model::{ErrorKind, ProviderLimits};
use tokio::sync::Notify;

use crate::{BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError};

/// Additive-increase / multiplicative-decrease concurrency: the limit halves on a 429 (never
/// below the minimum) and grows by one after `limit` successes in a row (never above the
/// maximum). A `Retry-After` pauses every new request of the provider until it has passed.
pub struct Limiter {
    state: Mutex<LimiterState>,
    freed: Notify,
    min: f64,
    max: f64,
}

struct LimiterState {
    limit: f64,
    in_flight: u32,
    successes: u32,
    paused_until: Option<Instant>,
}

impl Limiter {
    pub fn new(limits: &ProviderLimits) -> Limiter {
        let max = f64::from(limits.max_concurrency.max(1));
        Limiter {
            state: Mutex::new(LimiterState {
                limit: max,
                in_flight: 0,
                successes: 0,
                paused_until: None,
            }),
            freed: Notify::new(),
            min: f64::from(limits.min_concurrency.max(1)).min(max),
            max,
        }
    }

    /// The current concurrency limit.
    pub fn limit(&self) -> u32 {
        self.lock().limit as u32
    }

    pub fn in_flight(&self) -> u32 {
        self.lock().in_flight
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot under the current limit and past any `Retry-After` pause.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let freed = self.freed.notified();
            let wait = {
                let mut s = self.lock();
                match s.paused_until {
                    Some(t) if t > Instant::now() => Some(t - Instant::now()),
                    _ => {
                        s.paused_until = None;
                        if f64::from(s.in_flight) < s.limit.floor().max(1.0) {
                            s.in_flight += 1;
                            return Slot {
                                limiter: Arc::clone(self),
                                done: false,
                            };
                        }
                        None
                    }
                }
            };
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => freed.await,
            }
        }
    }

    fn release(&self, outcome: Option<&ProviderError>) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            match outcome {
                Some(e) if e.kind == ErrorKind::RateLimit => {
                    s.limit = (s.limit / 2.0).max(self.min);
                    s.successes = 0;
                    if let Some(ms) = e.retry_after_ms {
                        let until = Instant::now() + Duration::from_millis(ms);
                        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
                    }
                }
                Some(_) => {}
                None => {
                    s.successes += 1;
                    if f64::from(s.successes) >= s.limit.floor() {
                        s.successes = 0;
                        s.limit = (s.limit + 1.0).min(self.max);
                    }
                }
            }
        }
        self.freed.notify_waiters();
    }
}

/// A slot of the limiter; give it back with [`Slot::finish`] (dropping it counts as neither
/// success nor rate limit, e.g. when the call was cancelled).
pub struct Slot {
    limiter: Arc<Limiter>,
    done: bool,
}

impl Slot {
    pub fn finish(mut self, outcome: Option<&ProviderError>) {
        self.done = true;
        self.limiter.release(outcome);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.done {
            self.limiter
                .release(Some(&ProviderError::new(ErrorKind::Network, "cancelled")));
        }
    }
}

/// Opens after `failures` consecutive server errors, timeouts or network errors; while open,
/// calls fail at once; after the cool-down one trial call is let through (half-open), and its
/// outcome closes or re-opens the circuit.
pub struct Breaker {
    state: Mutex<BreakerState>,
    failures: u32,
    cooldown: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BreakerState {
    Closed { consecutive: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// What the breaker says about a call about to be made.
#[derive(Debug, PartialEq)]
pub enum Admission {
    Allowed,
    /// Open: retry after this many milliseconds.
    Rejected(u64),
}

impl Breaker {
    pub fn new(limits: &ProviderLimits) -> Breaker {
        Breaker {
            state: Mutex::new(BreakerState::Closed { consecutive: 0 }),
            failures: limits.breaker_failures,
            cooldown: Duration::from_millis(limits.breaker_cooldown_ms),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(&self) -> Admission {
        if self.failures == 0 {
            return Admission::Allowed;
        }
        let mut s = self.lock();
        match *s {
            BreakerState::Closed { .. } => Admission::Allowed,
            BreakerState::Open { until } if Instant::now() >= until => {
                *s = BreakerState::HalfOpen;
                Admission::Allowed
            }
            BreakerState::Open { until } => {
                Admission::Rejected((until - Instant::now()).as_millis() as u64 + 1)
            }
            // One trial call at a time.
            BreakerState::HalfOpen => Admission::Rejected(self.cooldown.as_millis() as u64),
        }
    }

    pub fn record(&self, outcome: Option<&ProviderError>) {
        if self.failures == 0 {
            return;
        }
        let counts = |e: &ProviderError| {
            matches!(
                e.kind,
                ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Network
            )
        };
        let mut s = self.lock();
        *s = match (*s, outcome) {
            (_, None) => BreakerState::Closed { consecutive: 0 },
            (BreakerState::HalfOpen, Some(e)) if counts(e) => BreakerState::Open {
                until: Instant::now() + self.cooldown,
            },
            (BreakerState::Closed { consecutive }, Some(e)) if counts(e) => {
                if consecutive + 1 >= self.failures {
                    BreakerState::Open {
                        until: Instant::now() + self.cooldown,
                    }
                } else {
                    BreakerState::Closed {
                        consecutive: consecutive + 1,
                    }
                }
            }
            // Client errors say nothing about the provider's health.
            (BreakerState::HalfOpen, Some(_)) => BreakerState::Closed { consecutive: 0 },
            (state, Some(_)) => state,
        };
    }

    /// A call that was let through ended without an outcome (cancelled, timed out by the
    /// caller): a half-open circuit must not wait forever for its trial, so the next call
    /// becomes the trial.
    pub fn abandon(&self) {
        let mut s = self.lock();
        if *s == BreakerState::HalfOpen {
            *s = BreakerState::Open {
                until: Instant::now(),
            };
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), BreakerState::Open { until } if until > Instant::now())
    }
}

/// A provider behind its limiter and breaker.
pub struct Guarded {
    pub name: String,
    /// The provider's default model, used when it serves as a fallback.
    pub model: Option<String>,
    pub inner: Box<dyn Provider>,
    pub limiter: Arc<Limiter>,
    pub breaker: Breaker,
    /// The provider's secrets, replaced by their references in every answer and error of
    /// every adapter (an endpoint echoing its key cannot leak it).
    pub redactor: crate::http::Redactor,
}

impl Guarded {
    pub async fn call(
        &self,
        req: ChatRequest<'_>,
        ctx: &mut CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        if let Admission::Rejected(ms) = self.breaker.admit() {
            let mut e = ProviderError::new(
                ErrorKind::ServerError,
                format!(
                    "the circuit of provider `{}` is open after repeated failures; next trial in {ms} ms",
                    self.name
                ),
            );
            e.retry_after_ms = Some(ms);
            e.latency_ms = Some(0.0);
            return Err(e);
        }
        // If this future is dropped mid-call, the breaker hears of it.
        struct Pending<'b>(Option<&'b Breaker>);
        impl Drop for Pending<'_> {
            fn drop(&mut self) {
                if let Some(b) = self.0 {
                    b.abandon();
                }
            }
        }
        let mut pending = Pending(Some(&self.breaker));
        let slot = self.limiter.acquire().await;
        let result = self.inner.complete(req, ctx).await;
        pending.0 = None;
        let outcome = result.as_ref().err();
        self.breaker.record(outcome);
        slot.finish(outcome);
        match result {
            Ok(r) => Ok(self.redactor.scrub_response(r)),
            Err(e) => Err(self.redactor.scrub_error(e)),
        }
    }
}

/// An agent's provider followed by its fallbacks: a retryable failure (or an open circuit)
/// moves on to the next; the first answer wins and names who served it.
pub struct Routed {
    pub chain: Vec<Arc<Guarded>>,
}

impl Provider for Routed {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut failures: Vec<String> = Vec::new();
            let mut last: Option<ProviderError> = None;
            for (i, p) in self.chain.iter().enumerate() {
                let model = if i == 0 {
                    req.model
                } else {
                    p.model.as_deref().unwrap_or(req.model)
                };
                let attempt = ChatRequest {
                    agent: req.agent,
                    model,
                    messages: req.messages,
                    tools: req.tools,
                    turn: req.turn,
                    vars: req.vars,
                };
                match p.call(attempt, ctx).await {
                    Ok(mut r) => {
                        if i > 0 {
                            r.served_by = Some((p.name.clone(), model.to_owned()));
                        }
                        return Ok(r);
                    }
                    Err(e) if e.kind.is_retryable() && i + 1 < self.chain.len() => {
                        failures.push(format!("{}: {}", p.name, e));
                        last = Some(e);
                    }
                    Err(mut e) => {
                        if !failures.is_empty() {
                            e.message = format!(
                                "{} (after fallbacks failed: {})",
                                e.message,
                                failures.join("; ")
                            );
                        }
                        return Err(e);
                    }
                }
            }
            Err(last.unwrap_or_else(|| {
                ProviderError::new(ErrorKind::Unsupported, "the provider chain is empty")
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u32, failures: u32, cooldown_ms: u64) -> ProviderLimits {
        ProviderLimits {
            max_concurrency: max,
            min_concurrency: 1,
            breaker_failures: failures,
            breaker_cooldown_ms: cooldown_ms,
            explicit: true,
        }
    }

    fn err(kind: ErrorKind) -> ProviderError {
        ProviderError::new(kind, "x")
    }

    #[tokio::test]
    async fn aimd_halves_on_429_and_recovers_additively() {
        let l = Arc::new(Limiter::new(&limits(16, 0, 0)));
        assert_eq!(l.limit(), 16);
        l.acquire().await.finish(Some(&err(ErrorKind::RateLimit)));
        assert_eq!(l.limit(), 8);
        l.acquire().await.finish(Some(&err(ErrorKind::RateLimit)));
        l.acquire().await.finish(Some(&err(ErrorKind::RateLimit)));
        l.acquire().await.finish(Some(&err(ErrorKind::RateLimit)));
        l.acquire().await.finish(Some(&err(ErrorKind::RateLimit)));
        assert_eq!(l.limit(), 1, "never below the minimum");
        // One success at limit 1 grows it to 2; two more to 3; three more to 4.
        for expected in [2, 2, 3, 3, 3, 4] {
            l.acquire().await.finish(None);
            assert_eq!(l.limit(), expected);
        }
        // Server errors do not change the limit.
        l.acquire().await.finish(Some(&err(ErrorKind::ServerError)));
        assert_eq!(l.limit(), 4);
    }

    #[tokio::test]
    async fn limit_bounds_concurrency() {
        let l = Arc::new(Limiter::new(&limits(2, 0, 0)));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(waiting.is_err(), "a third slot must wait");
        a.finish(None);
        let c = tokio::time::timeout(Duration::from_millis(500), l.acquire()).await;
        assert!(c.is_ok(), "a freed slot is handed on");
    }

    #[tokio::test]
    async fn retry_after_pauses_new_requests() {
        let l = Arc::new(Limiter::new(&limits(4, 0, 0)));
        let mut e = err(ErrorKind::RateLimit);
        e.retry_after_ms = Some(150);
        l.acquire().await.finish(Some(&e));
        let started = Instant::now();
        l.acquire().await.finish(None);
        assert!(started.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn breaker_opens_half_opens_and_closes() {
        let b = Breaker::new(&limits(1, 3, 80));
        for _ in 0..2 {
            assert_eq!(b.admit(), Admission::Allowed);
            b.record(Some(&err(ErrorKind::ServerError)));
        }
        // Client errors do not count and do not reset.
        b.record(Some(&err(ErrorKind::InvalidRequest)));
        assert!(!b.is_open());
        b.record(Some(&err(ErrorKind::Timeout)));
        assert!(b.is_open());
        assert!(matches!(b.admit(), Admission::Rejected(ms) if ms <= 81));
        tokio::time::sleep(Duration::from_millis(90)).await;
        assert_eq!(
            b.admit(),
            Admission::Allowed,
            "one trial after the cool-down"
        );
        assert!(
            matches!(b.admit(), Admission::Rejected(_)),
            "only one trial"
        );
        b.record(Some(&err(ErrorKind::Network)));
        assert!(b.is_open(), "a failed trial re-opens");
        tokio::time::sleep(Duration::from_millis(90)).await;
        assert_eq!(b.admit(), Admission::Allowed);
        b.record(None);
        assert_eq!(b.admit(), Admission::Allowed);
        assert!(!b.is_open());
    }

    #[tokio::test]
    async fn an_abandoned_trial_does_not_keep_the_circuit_half_open() {
        let b = Breaker::new(&limits(1, 1, 50));
        b.record(Some(&err(ErrorKind::ServerError)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(b.admit(), Admission::Allowed, "the trial");
        assert!(matches!(b.admit(), Admission::Rejected(_)));
        b.abandon();
        assert_eq!(b.admit(), Admission::Allowed, "the next call is the trial");
    }
}
