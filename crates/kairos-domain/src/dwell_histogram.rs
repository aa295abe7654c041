//! Dwell's histogram (PRODUCT.md §8): durations in days counted in buckets, so that the
//! median and p90 of millions of passages can be found without reading them all.
//!
//! The counts per bucket say which bucket holds the value of a given rank and its rank
//! inside that bucket; only that bucket's values are then read, in order, to the one wanted.
//! Either way the answer is a value as stored, so the statistics are exact.
//!
//! A bucket is a half-open range of days between two bounds. The bounds are multiples of
//! 1/64 day, exact in binary, so a value lands in the same bucket whether Rust or SQL compares
//! it: 1/64 day apart up to a quarter day, then each about 1/16 above the last.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Where no bound is any more needed: over eleven years in a stage.
const LAST_BOUND: f64 = 4096.0;

/// The bounds between buckets, rising: bucket `i` holds the values from bound `i − 1` (or
/// minus infinity) up to, not including, bound `i` (or infinity).
pub fn bounds() -> &'static [f64] {
    static BOUNDS: OnceLock<Vec<f64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let step = 1.0 / 64.0;
        let mut bounds = vec![step];
        while let Some(&last) = bounds.last().filter(|b| **b < LAST_BOUND) {
            // Rounded up to a 64th: the product of two exact numbers is exact here, and so
            // is its ceiling over 64.
            let next = ((last * 17.0 / 16.0) * 64.0).ceil() / 64.0;
            bounds.push(next.max(last + step));
        }
        bounds
    })
}

/// The bucket of a number of days.
pub fn bucket_of(days: f64) -> i32 {
    bounds().partition_point(|b| *b <= days) as i32
}

/// A bucket's range, `[from, until)`; `None` for no bound on that side (and for a bucket
/// that does not exist, both).
pub fn range_of(bucket: i32) -> (Option<f64>, Option<f64>) {
    let bounds = bounds();
    let Ok(i) = usize::try_from(bucket) else {
        return (None, None);
    };
    if i > bounds.len() {
        return (None, None);
    }
    (i.checked_sub(1).map(|p| bounds[p]), bounds.get(i).copied())
}

/// Where the value of a rank (0-based, over every counted value in order) lies: its bucket
/// and its rank among that bucket's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub bucket: i32,
    pub rank_in_bucket: u64,
}

/// Finds the bucket of the value at `rank`, from the count of values in each bucket; `None`
/// when there are no more than `rank` values.
pub fn locate(counts: &BTreeMap<i32, u64>, rank: u64) -> Option<Located> {
    let mut below = 0u64;
    for (&bucket, &n) in counts {
        if rank < below + n {
            return Some(Located { bucket, rank_in_bucket: rank - below });
        }
        below += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_rise_in_64ths_about_a_sixteenth_apart() {
        let b = bounds();
        assert_eq!(&b[..3], &[1.0 / 64.0, 2.0 / 64.0, 3.0 / 64.0]);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.iter().all(|x| (x * 64.0).fract() == 0.0));
        assert!(b.windows(2).filter(|w| w[0] >= 1.0).all(|w| w[1] / w[0] <= 17.0 / 16.0 + 1.0 / 64.0));
        assert!(*b.last().unwrap() >= LAST_BOUND);
        assert!(b.len() < 200, "{} buckets", b.len());
    }

    #[test]
    fn a_value_lies_in_the_range_of_its_bucket() {
        for v in [-1.0, 0.0, 1.0 / 128.0, 1.0 / 64.0, 0.3, 1.0, 2.5, 7.0, 10.0 / 3.0, 45.1234567, 1000.0, 5000.0] {
            let (from, until) = range_of(bucket_of(v));
            assert!(from.is_none_or(|f| f <= v) && until.is_none_or(|u| v < u), "{v}: {from:?}..{until:?}");
        }
        // A bound opens its own bucket.
        assert_eq!(bucket_of(bounds()[4]), 5);
        assert_eq!(bucket_of(bounds()[4] - 1e-12), 4);
        assert_eq!(range_of(0), (None, Some(1.0 / 64.0)));
        assert_eq!(range_of(bounds().len() as i32), (Some(*bounds().last().unwrap()), None));
        assert_eq!(range_of(-1), (None, None));
    }

    #[test]
    fn locate_walks_the_counts_in_bucket_order() {
        let counts = BTreeMap::from([(3, 2), (7, 0), (9, 5)]);
        assert_eq!(locate(&counts, 0), Some(Located { bucket: 3, rank_in_bucket: 0 }));
        assert_eq!(locate(&counts, 1), Some(Located { bucket: 3, rank_in_bucket: 1 }));
        assert_eq!(locate(&counts, 2), Some(Located { bucket: 9, rank_in_bucket: 0 }));
        assert_eq!(locate(&counts, 6), Some(Located { bucket: 9, rank_in_bucket: 4 }));
        assert_eq!(locate(&counts, 7), None);
    }
}
