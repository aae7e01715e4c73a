//! Properties of the quota ledger (SPEC.md §10.1): whatever the interleaving, what a bucket was
//! charged is exactly the sum of the debits that named it; refills follow the rule
//! `min(capacity, balance + rate × Δt)`; a clock that goes backwards never adds money.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aperture_config::{Quota, Rate};
use aperture_log::quota::QuotaBook;
use proptest::prelude::*;

const DOLLAR: i64 = 1_000_000_000;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Debits from several threads, each request charged to its user's bucket and to a shared
    /// pool, split into random per-thread runs: no debit is lost or doubled.
    #[test]
    fn concurrent_debits_sum_exactly(
        requests in proptest::collection::vec((0usize..3, 0i64..2 * DOLLAR), 1..300),
        threads in 1usize..5,
    ) {
        let users = [quota("u0", 1_000 * DOLLAR, DOLLAR), quota("u1", 1_000 * DOLLAR, DOLLAR),
                     quota("u2", 1_000 * DOLLAR, DOLLAR)];
        let pool = quota("pool", 10_000 * DOLLAR, DOLLAR);
        let book = Arc::new(QuotaBook::default());
        let quotas: BTreeMap<String, Quota> = users.iter().chain([&pool])
            .map(|q| (q.name.clone(), q.clone())).collect();
        book.reconcile(&quotas);
        let chunk = requests.len().div_ceil(threads);
        std::thread::scope(|s| {
            for part in requests.chunks(chunk) {
                let (book, users, pool) = (&book, &users, &pool);
                s.spawn(move || {
                    for &(user, cost) in part {
                        let buckets = [(users[user].name.clone(), &users[user]),
                                       ("pool".to_string(), pool)];
                        // Every thread settles at the same instant: no refill muddies the sum.
                        book.check(&buckets, 0).unwrap();
                        book.debit(&buckets, cost, 0);
                    }
                });
            }
        });
        let balances: BTreeMap<String, i64> = book.balances(&quotas, 0).into_iter()
            .map(|b| (b.bucket, b.nanodollars)).collect();
        for (i, u) in users.iter().enumerate() {
            let spent: i64 = requests.iter().filter(|r| r.0 == i).map(|r| r.1).sum();
            let used = requests.iter().any(|r| r.0 == i);
            prop_assert_eq!(balances.get(&u.name).copied(), used.then_some(u.capacity - spent));
        }
        let total: i64 = requests.iter().map(|r| r.1).sum();
        prop_assert_eq!(balances["pool"], pool.capacity - total);
        // And the store is handed every bucket that moved.
        let (dirty, removed) = book.dirty();
        prop_assert_eq!(dirty.len(), balances.len());
        prop_assert!(removed.is_empty());
    }

    /// A random history of debits, refills and clock moves against a reference ledger: the
    /// balance is always what the rule says, never above capacity, and a backwards clock adds
    /// nothing.
    #[test]
    fn balances_follow_the_refill_rule(
        ops in proptest::collection::vec((0u8..3, -3_600_000i64..7_200_000, 0i64..3 * DOLLAR), 1..80),
        capacity in 0i64..20 * DOLLAR,
        per_day in 0i64..50 * DOLLAR,
    ) {
        let q = quota("pool", capacity, per_day);
        let quotas = BTreeMap::from([("pool".to_string(), q.clone())]);
        let book = QuotaBook::default();
        let buckets = [("pool".to_string(), &q)];
        // The reference: (balance, settled at), i128 so nothing overflows.
        let (mut balance, mut settled) = (i128::from(capacity), 0i64);
        let mut now = 0i64;
        let mut touched = false;
        let day = 86_400_000i128;
        for (kind, dt, amount) in ops {
            now += dt;
            let elapsed = i128::from(now.saturating_sub(settled).max(0));
            let current = (balance + i128::from(per_day) * elapsed / day).min(i128::from(capacity));
            let seen = book.balances(&quotas, now).first().map(|b| b.nanodollars);
            prop_assert_eq!(seen, touched.then_some(i64::try_from(current).unwrap()));
            prop_assert!(current <= i128::from(capacity));
            prop_assert_eq!(book.check(&buckets, now).is_ok(), current > 0);
            match kind {
                0 => {
                    book.debit(&buckets, amount, now);
                    balance = current - i128::from(amount);
                }
                1 => {
                    book.refill("pool", amount, &quotas, now).unwrap();
                    balance = (current + i128::from(amount)).min(i128::from(capacity));
                }
                _ => continue,
            }
            // Settled at the later of the two instants: going back in time refills nothing.
            settled = if touched { settled.max(now) } else { now };
            touched = true;
        }
    }
}
