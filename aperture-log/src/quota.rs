//! Dollar quotas (SPEC.md §10.1): token buckets in nanodollars, checked before forwarding and
//! debited with each request's recorded cost after its response.
//!
//! [`QuotaBook`] is the ledger: one balance per bucket (`daily:alice@example.com`, or a shared
//! `eng-team-pool`). A bucket refills lazily, `min(capacity, balance + rate × Δt)`, computed on
//! each look and stored only when money moves; a clock that goes backwards adds nothing. The
//! check and each debit take one short lock and touch no disk: the book is the embedded store's
//! source of truth, and changed balances are handed to [`Store::save_balances`] in the
//! background ([`QuotaBook::dirty`]), so they survive a restart ([`QuotaBook::load`]).
//!
//! [`Store::save_balances`]: crate::store::Store::save_balances

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use aperture_config::{Quota, Rate};

/// A bucket's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The bucket (`daily:alice@example.com`).
    pub bucket: String,
    /// The quota it belongs to (`daily:<user>`).
    pub quota: String,
    /// Nanodollars; negative when a request cost more than was left.
    pub nanodollars: i64,
    /// When the balance was last settled, unix ms.
    pub updated_ms: i64,
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The bucket that is empty (the one that refills last, when several are).
    pub bucket: String,
    /// Its quota as configured (`daily:<user>`): what metrics are labelled by.
    pub quota: String,
    /// Whole seconds until it is positive again (at least 1; 86,400 when it never refills).
    pub retry_after_secs: u64,
}

/// The balances of every bucket in use.
#[derive(Debug, Default)]
pub struct QuotaBook {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, Balance>,
    /// Buckets changed since [`QuotaBook::dirty`] last took them.
    dirty: HashSet<String>,
    /// Buckets removed since then.
    removed: Vec<String>,
    /// The quotas of the running config, once [`QuotaBook::reconcile`] has seen one: a debit
    /// for a quota that is gone (a request that began under an older config) is dropped, and
    /// one for a quota that changed refills under its current capacity and rate.
    live: Option<HashMap<String, Quota>>,
}

/// Seconds in a day: the `Retry-After` of a bucket that never refills.
const NEVER_SECS: u64 = 86_400;

/// `balance` refilled at `rate` from `updated_ms` to `now_ms`, capped at `capacity` (a balance
/// already above a lowered capacity is capped too).
pub fn refilled(balance: i64, updated_ms: i64, now_ms: i64, capacity: i64, rate: Rate) -> i64 {
    let elapsed = i128::from(now_ms.saturating_sub(updated_ms).max(0));
    let per = i128::try_from(rate.per.as_millis())
        .unwrap_or(i128::MAX)
        .max(1);
    let added = i128::from(rate.nanodollars) * elapsed / per;
    let total = i128::from(balance) + added;
    i64::try_from(total.min(i128::from(capacity))).unwrap_or(i64::MAX)
}

/// Whole seconds until `balance` (≤ 0) is positive at `rate`, at least 1.
fn seconds_until_positive(balance: i64, capacity: i64, rate: Rate) -> u64 {
    if capacity <= 0 || rate.nanodollars <= 0 {
        return NEVER_SECS;
    }
    let needed = i128::from(balance).abs() + 1;
    let per_ms = i128::try_from(rate.per.as_millis())
        .unwrap_or(i128::MAX)
        .max(1);
    let ms = (needed * per_ms + i128::from(rate.nanodollars) - 1) / i128::from(rate.nanodollars);
    let secs = (ms + 999) / 1000;
    u64::try_from(secs).unwrap_or(u64::MAX).max(1)
}

impl QuotaBook {
    /// A book holding `balances` (as loaded from the store).
    pub fn load(balances: Vec<Balance>) -> Self {
        let buckets = balances
            .into_iter()
            .map(|b| (b.bucket.clone(), b))
            .collect();
        Self {
            state: Mutex::new(State {
                buckets,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether every bucket in `buckets` (name and its quota) is positive at `now_ms`; a bucket
    /// never used starts full. Otherwise the bucket that refills last.
    pub fn check(&self, buckets: &[(String, &Quota)], now_ms: i64) -> Result<(), Exceeded> {
        let state = self.state();
        let mut worst: Option<Exceeded> = None;
        for (name, quota) in buckets {
            let balance = match state.buckets.get(name) {
                Some(b) => refilled(
                    b.nanodollars,
                    b.updated_ms,
                    now_ms,
                    quota.capacity,
                    quota.rate,
                ),
                None => quota.capacity,
            };
            if balance > 0 {
                continue;
            }
            let wait = seconds_until_positive(balance, quota.capacity, quota.rate);
            if worst.as_ref().is_none_or(|w| wait > w.retry_after_secs) {
                worst = Some(Exceeded {
                    bucket: name.clone(),
                    quota: quota.name.clone(),
                    retry_after_secs: wait,
                });
            }
        }
        worst.map_or(Ok(()), Err)
    }

    /// Debits `nanodollars` from each bucket at `now_ms` (after refilling it); balances may go
    /// negative. Every bucket named is charged once; a bucket whose quota the running config no
    /// longer has is not charged (it vanished with its quota).
    pub fn debit(&self, buckets: &[(String, &Quota)], nanodollars: i64, now_ms: i64) {
        let mut state = self.state();
        for (name, quota) in buckets {
            let quota = match &state.live {
                Some(live) => match live.get(&quota.name) {
                    Some(current) => current.clone(),
                    None => continue,
                },
                None => (*quota).clone(),
            };
            let current = match state.buckets.get(name) {
                Some(b) => refilled(
                    b.nanodollars,
                    b.updated_ms,
                    now_ms,
                    quota.capacity,
                    quota.rate,
                ),
                None => quota.capacity,
            };
            let settled_at = state
                .buckets
                .get(name)
                .map_or(now_ms, |b| b.updated_ms.max(now_ms));
            state.buckets.insert(
                name.clone(),
                Balance {
                    bucket: name.clone(),
                    quota: quota.name.clone(),
                    nanodollars: current.saturating_sub(nanodollars),
                    updated_ms: settled_at,
                },
            );
            state.dirty.insert(name.clone());
        }
    }

    /// Adds `nanodollars` to `bucket`, up to its capacity; `None` when the bucket is not in use
    /// and is not a shared (untemplated) quota of `quotas`.
    pub fn refill(
        &self,
        bucket: &str,
        nanodollars: i64,
        quotas: &BTreeMap<String, Quota>,
        now_ms: i64,
    ) -> Option<Balance> {
        let mut state = self.state();
        let quota_name = match state.buckets.get(bucket) {
            Some(b) => b.quota.clone(),
            None => quotas
                .get(bucket)
                .filter(|q| q.template.is_none())?
                .name
                .clone(),
        };
        let quota = quotas.get(&quota_name)?;
        let current = match state.buckets.get(bucket) {
            Some(b) => refilled(
                b.nanodollars,
                b.updated_ms,
                now_ms,
                quota.capacity,
                quota.rate,
            ),
            None => quota.capacity,
        };
        // Settled at the later instant, as a debit is: a clock that went back must not make
        // the next look refill a stretch of time a second time.
        let settled_at = state
            .buckets
            .get(bucket)
            .map_or(now_ms, |b| b.updated_ms.max(now_ms));
        let balance = Balance {
            bucket: bucket.to_string(),
            quota: quota_name,
            nanodollars: current.saturating_add(nanodollars).min(quota.capacity),
            updated_ms: settled_at,
        };
        state.buckets.insert(bucket.to_string(), balance.clone());
        state.dirty.insert(bucket.to_string());
        Some(balance)
    }

    /// One bucket's balance of `quota` refilled to `now_ms` (not stored); a bucket never used
    /// is full.
    pub fn balance_of(&self, bucket: &str, quota: &Quota, now_ms: i64) -> i64 {
        match self.state().buckets.get(bucket) {
            Some(b) => refilled(
                b.nanodollars,
                b.updated_ms,
                now_ms,
                quota.capacity,
                quota.rate,
            ),
            None => quota.capacity,
        }
    }

    /// Every bucket in use, refilled to `now_ms` (not stored), by name.
    pub fn balances(&self, quotas: &BTreeMap<String, Quota>, now_ms: i64) -> Vec<Balance> {
        let state = self.state();
        let mut out: Vec<Balance> = state
            .buckets
            .values()
            .map(|b| {
                let mut b = b.clone();
                if let Some(q) = quotas.get(&b.quota) {
                    b.nanodollars =
                        refilled(b.nanodollars, b.updated_ms, now_ms, q.capacity, q.rate);
                }
                b
            })
            .collect();
        out.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        out
    }

    /// After a config change: buckets of quotas that are gone vanish; balances above a lowered
    /// capacity are capped.
    pub fn reconcile(&self, quotas: &BTreeMap<String, Quota>) {
        let mut state = self.state();
        state.live = Some(quotas.clone().into_iter().collect());
        let mut gone = Vec::new();
        let mut capped = Vec::new();
        for (name, b) in state.buckets.iter_mut() {
            match quotas.get(&b.quota) {
                None => gone.push(name.clone()),
                Some(q) if b.nanodollars > q.capacity => {
                    b.nanodollars = q.capacity;
                    capped.push(name.clone());
                }
                Some(_) => {}
            }
        }
        for name in gone {
            state.buckets.remove(&name);
            state.dirty.remove(&name);
            state.removed.push(name);
        }
        state.dirty.extend(capped);
    }

    /// Marks balances as changed again (a save failed); removed buckets stay removed.
    pub fn mark_dirty(&self, changed: &[Balance], removed: Vec<String>) {
        let mut state = self.state();
        state.dirty.extend(changed.iter().map(|b| b.bucket.clone()));
        state.removed.extend(removed);
    }

    /// The balances changed and the buckets removed since the last call, for the store.
    pub fn dirty(&self) -> (Vec<Balance>, Vec<String>) {
        let mut state = self.state();
        let names: Vec<String> = state.dirty.drain().collect();
        let changed = names
            .iter()
            .filter_map(|n| state.buckets.get(n).cloned())
            .collect();
        (changed, std::mem::take(&mut state.removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn quota(name: &str, capacity: i64, per_day: i64) -> Quota {
        Quota {
            name: name.into(),
            capacity,
            rate: Rate {
                nanodollars: per_day,
                per: Duration::from_secs(86_400),
            },
            template: None,
        }
    }

    const DAY_MS: i64 = 86_400_000;
    const DOLLAR: i64 = 1_000_000_000;

    #[test]
    fn lazy_refill_by_an_injected_clock_and_capped() {
        let q = quota("pool", 10 * DOLLAR, 5 * DOLLAR);
        let book = QuotaBook::default();
        let b = [("pool".to_string(), &q)];
        book.debit(&b, 10 * DOLLAR, 0);
        assert_eq!(
            book.balances(&BTreeMap::from([("pool".into(), q.clone())]), 0)[0].nanodollars,
            0
        );
        let quotas = BTreeMap::from([("pool".to_string(), q.clone())]);
        // Half a day: $2.50 back; two days: full, not more.
        assert_eq!(
            book.balances(&quotas, DAY_MS / 2)[0].nanodollars,
            5 * DOLLAR / 2
        );
        assert_eq!(
            book.balances(&quotas, 2 * DAY_MS)[0].nanodollars,
            10 * DOLLAR
        );
        // A clock that goes backwards adds nothing.
        assert_eq!(book.balances(&quotas, -DAY_MS)[0].nanodollars, 0);
    }

    #[test]
    fn a_zero_bucket_refuses_and_says_when_to_retry() {
        let empty = quota("none", 0, 0);
        let book = QuotaBook::default();
        let e = book.check(&[("none".into(), &empty)], 0).unwrap_err();
        assert_eq!((e.bucket.as_str(), e.retry_after_secs), ("none", 86_400));
        // $1 short at $86.40/day = $0.001/s: 1,000 s, plus one nanodollar's worth.
        let q = quota("q", DOLLAR, 86_400 * DOLLAR / 1000);
        book.debit(&[("q".into(), &q)], 2 * DOLLAR, 0);
        let e = book.check(&[("q".into(), &q)], 0).unwrap_err();
        assert_eq!(e.retry_after_secs, 1_001);
        assert!(book.check(&[("q".into(), &q)], 1_001_000).is_ok());
    }

    #[test]
    fn every_bucket_must_be_positive_and_the_slowest_is_named() {
        let a = quota("a", DOLLAR, DOLLAR);
        let b = quota("b", DOLLAR, DOLLAR / 10);
        let book = QuotaBook::default();
        let both = [("a".to_string(), &a), ("b".to_string(), &b)];
        assert!(book.check(&both, 0).is_ok());
        book.debit(&both, 2 * DOLLAR, 0);
        assert_eq!(book.check(&both, 0).unwrap_err().bucket, "b");
    }

    #[test]
    fn reconcile_caps_and_drops_and_refill_stops_at_capacity() {
        let q = quota("pool", 10 * DOLLAR, 0);
        let book = QuotaBook::default();
        let quotas = BTreeMap::from([("pool".to_string(), q.clone())]);
        assert!(book.refill("nobody:x", DOLLAR, &quotas, 0).is_none());
        let b = book.refill("pool", 5 * DOLLAR, &quotas, 0).unwrap();
        assert_eq!(
            b.nanodollars,
            10 * DOLLAR,
            "full already: stays at capacity"
        );
        let smaller = BTreeMap::from([("pool".to_string(), quota("pool", 3 * DOLLAR, 0))]);
        book.reconcile(&smaller);
        assert_eq!(book.balances(&smaller, 0)[0].nanodollars, 3 * DOLLAR);
        book.reconcile(&BTreeMap::new());
        assert!(book.balances(&smaller, 0).is_empty());
        let (changed, removed) = book.dirty();
        assert!(changed.is_empty());
        assert_eq!(removed, ["pool"]);
    }

    #[test]
    fn a_debit_for_a_quota_that_is_gone_does_not_bring_its_bucket_back() {
        let old = quota("pool", 10 * DOLLAR, 0);
        let book = QuotaBook::default();
        book.reconcile(&BTreeMap::from([("pool".to_string(), old.clone())]));
        book.debit(&[("pool".into(), &old)], DOLLAR, 0);
        // The quota shrinks while a request that began under the old config is in flight: its
        // debit refills and caps under the new capacity.
        let smaller = BTreeMap::from([("pool".to_string(), quota("pool", 3 * DOLLAR, 0))]);
        book.reconcile(&smaller);
        book.debit(&[("pool".into(), &old)], DOLLAR, 0);
        assert_eq!(book.balances(&smaller, 0)[0].nanodollars, 2 * DOLLAR);
        book.reconcile(&BTreeMap::new());
        book.debit(&[("pool".into(), &old)], DOLLAR, 0);
        assert!(book.balances(&smaller, 0).is_empty());
        assert!(book.dirty().0.is_empty());
    }
}
