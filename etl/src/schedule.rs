//! Scheduling: each source on its own cron schedule (with seconds), in its own task, so runs of one
//! source never overlap; a failed pass is retried with exponential backoff and jitter, a bounded
//! number of times; a tick missed while the process was down is caught up once at start.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Etl, EtlError, Source};

/// Retries of a failed pass.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Passes in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, base: Duration::from_secs(30), max: Duration::from_secs(30 * 60) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: base · 2^(attempt−1), capped, with "equal jitter"
    /// (half fixed, half random) so that sources failing together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// A source with its schedule.
#[derive(Clone, Debug)]
pub struct Scheduled {
    pub source: Source,
    pub schedule: cron::Schedule,
}

impl Scheduled {
    pub fn new(source: Source, cron: &str) -> Result<Scheduled, EtlError> {
        let schedule = cron::Schedule::from_str(cron)
            .map_err(|e| EtlError::Config(format!("source {}: schedule `{cron}`: {e}", source.name)))?;
        Ok(Scheduled { source, schedule })
    }

    /// Whether a tick fell between the last run and now (or the source never ran).
    pub fn missed(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match last_run {
            None => true,
            Some(last) => self.schedule.after(&last).next().is_some_and(|tick| tick <= now),
        }
    }
}

/// Runs one pass over a source, retrying failures. Returns the last result.
pub async fn run_with_retries(etl: &Etl, source: &Source, retry: RetryPolicy) -> Result<crate::RunReport, EtlError> {
    let mut attempt = 1;
    loop {
        match etl.run(std::slice::from_ref(source)).await {
            Ok(report) => return Ok(report),
            Err(e) if attempt < retry.attempts => {
                let wait = retry.backoff(attempt);
                tracing::warn!(source = %source.name, attempt, error = %e, wait_ms = wait.as_millis() as u64, "pass failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(source = %source.name, attempt, error = %e, "pass failed; giving up until the next tick");
                return Err(e);
            }
        }
    }
}

/// Starts one task per source. Send `true` on the shutdown channel to stop them; a pass in progress
/// finishes (and commits) first.
pub fn spawn(
    etl: Etl,
    sources: Vec<Scheduled>,
    retry: RetryPolicy,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    sources
        .into_iter()
        .map(|s| {
            let etl = etl.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let last = match etl.lake.runs().await {
                    Ok(runs) => runs.iter().filter(|r| r.source == s.source.name).map(|r| r.started_at).max(),
                    Err(e) => {
                        tracing::warn!(source = %s.source.name, error = %e, "could not read run history");
                        None
                    }
                };
                if s.missed(last, Utc::now()) {
                    tracing::info!(source = %s.source.name, "catching up a missed tick");
                    let _ = run_with_retries(&etl, &s.source, retry).await;
                }
                loop {
                    let Some(next) = s.schedule.upcoming(Utc).next() else { return };
                    let wait = (next - Utc::now()).to_std().unwrap_or_default();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    let _ = run_with_retries(&etl, &s.source, retry).await;
                    if *shutdown.borrow() {
                        return;
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        let p = RetryPolicy { attempts: 5, base: Duration::from_secs(10), max: Duration::from_secs(60) };
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_secs(5) && b1 <= Duration::from_secs(10), "{b1:?}");
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_secs(20) && b3 <= Duration::from_secs(40), "{b3:?}");
            let b9 = p.backoff(9);
            assert!(b9 >= Duration::from_secs(30) && b9 <= Duration::from_secs(60), "{b9:?}");
        }
        let samples: std::collections::BTreeSet<_> = (0..20).map(|_| p.backoff(2)).collect();
        assert!(samples.len() > 1, "jitter varies the wait");
    }
}
