//! Working-day calendar (PRODUCT.md: weekends, public holidays, make-up working days 调休).
//!
//! Stage dwell times and follow-up deadlines are measured in working days, because a deal
//! that sat still over the National Day week has not really gone stale. Chinese holidays
//! are announced yearly and come with make-up working days on weekends, so neither a plain
//! weekday rule nor a fixed holiday list is enough: the calendar carries both lists.
//!
//! Days are judged in the workspace's local time (a fixed UTC offset), since "Saturday"
//! means Saturday in Shanghai, not in UTC.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc, Weekday};

const NANOS_PER_DAY: f64 = 86_400.0 * 1_000_000_000.0;

/// Real-world offsets stay within ±14:00; anything beyond a day would make "local date"
/// meaningless, so offsets are clamped just inside a day.
const MAX_OFFSET_MINUTES: i32 = 24 * 60 - 1;

/// The UTC offset every workspace's calendar uses today: UTC+08:00 (China Standard Time, no
/// DST). The rolled-up pipeline changes (migration 0018) cut their days at this offset, so a
/// workspace time zone setting would have to refold them when it changes.
pub const WORKSPACE_UTC_OFFSET_MINUTES: i32 = 8 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Indexed by `Weekday::num_days_from_monday`.
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    makeup_workdays: BTreeSet<NaiveDate>,
    utc_offset_minutes: i32,
}

impl Default for WorkCalendar {
    fn default() -> Self {
        Self::china_default()
    }
}

impl WorkCalendar {
    /// A date listed both as holiday and as make-up day is a working day: the make-up list
    /// is the more specific announcement. Offsets are clamped to less than ±24 hours.
    pub fn new(
        weekend: Vec<Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_workdays: impl IntoIterator<Item = NaiveDate>,
        utc_offset_minutes: i32,
    ) -> WorkCalendar {
        let mut mask = [false; 7];
        for day in weekend {
            mask[day.num_days_from_monday() as usize] = true;
        }
        WorkCalendar {
            weekend: mask,
            holidays: holidays.into_iter().collect(),
            makeup_workdays: makeup_workdays.into_iter().collect(),
            utc_offset_minutes: utc_offset_minutes.clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES),
        }
    }

    /// Saturday/Sunday weekend, no holidays, UTC+08:00 (Asia/Shanghai has no DST).
    pub fn china_default() -> WorkCalendar {
        WorkCalendar::new(vec![Weekday::Sat, Weekday::Sun], [], [], WORKSPACE_UTC_OFFSET_MINUTES)
    }

    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.makeup_workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !self.is_weekend(d)
    }

    /// Working days elapsed between two instants, as f64 days: counts only the portions of
    /// the interval that fall on working days (in local time of the offset), so 09:00 Friday
    /// → 09:00 Monday = 1.0; negative interval → 0.0.
    pub fn working_days_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        if to <= from {
            return 0.0;
        }
        let (start, end) = (self.local(from), self.local(to));
        let (first_day, last_day) = (start.date(), end.date());
        let (start_nanos, end_nanos) = (nanos_into_day(start), nanos_into_day(end));

        if first_day == last_day {
            return if self.is_working_day(first_day) {
                (end_nanos - start_nanos) as f64 / NANOS_PER_DAY
            } else {
                0.0
            };
        }

        let mut total = 0.0;
        if self.is_working_day(first_day) {
            total += (NANOS_PER_DAY - start_nanos as f64) / NANOS_PER_DAY;
        }
        // `first_day < last_day`, so its successor exists.
        let after_first = first_day.succ_opt().unwrap_or(last_day);
        total += self.count_working_days(after_first, last_day) as f64;
        if self.is_working_day(last_day) {
            total += end_nanos as f64 / NANOS_PER_DAY;
        }
        total
    }

    /// The date `n` working days after `start` (a local date); n=0 returns start if it is a
    /// working day else the next working day.
    ///
    /// For n ≥ 1 the count starts on the day after `start`, as spreadsheet WORKDAY does, so
    /// both Friday + 1 and Saturday + 1 give Monday. If the calendar runs out of working
    /// days (every weekday a weekend and too few make-up days) or past chrono's last date,
    /// the result saturates at `NaiveDate::MAX` instead of looping forever.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return self.next_working_on_or_after(start).unwrap_or(NaiveDate::MAX);
        }
        let Some(after_start) = start.succ_opt() else {
            return NaiveDate::MAX;
        };
        if self.workdays_per_week() == 0 {
            // Only make-up days work, and a make-up day always works.
            return self
                .makeup_workdays
                .range(after_start..)
                .nth(n as usize - 1)
                .copied()
                .unwrap_or(NaiveDate::MAX);
        }

        let mut current = start;
        let mut remaining = i64::from(n);
        // A week holds at most 7 working days, so jumping (remaining - 1) / 7 weeks can never
        // reach the answer; it only shrinks `remaining` geometrically for large n.
        while remaining > 7 {
            let weeks = (remaining - 1) / 7;
            let Some(target) =
                current.checked_add_days(chrono::Days::new(weeks.unsigned_abs() * 7))
            else {
                return NaiveDate::MAX;
            };
            let Some(after_current) = current.succ_opt() else {
                return NaiveDate::MAX;
            };
            let Some(after_target) = target.succ_opt() else {
                return NaiveDate::MAX;
            };
            remaining -= self.count_working_days(after_current, after_target);
            current = target;
        }
        while remaining > 0 {
            let Some(next) = current.succ_opt() else {
                return NaiveDate::MAX;
            };
            current = next;
            if self.is_working_day(current) {
                remaining -= 1;
            }
        }
        current
    }

    /// The instant a local day begins, for "created on or after this date" filters.
    pub fn start_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_time(chrono::NaiveTime::MIN);
        local.checked_sub_signed(TimeDelta::minutes(i64::from(self.utc_offset_minutes))).unwrap_or(local).and_utc()
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date()
    }

    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        let offset = TimeDelta::minutes(i64::from(self.utc_offset_minutes));
        // Only instants within a day of chrono's date limits overflow; saturating keeps the
        // arithmetic total without pretending those instants matter.
        at.naive_utc().checked_add_signed(offset).unwrap_or(if self.utc_offset_minutes > 0 {
            NaiveDateTime::MAX
        } else {
            NaiveDateTime::MIN
        })
    }

    fn is_weekend(&self, d: NaiveDate) -> bool {
        self.weekend[d.weekday().num_days_from_monday() as usize]
    }

    fn workdays_per_week(&self) -> i64 {
        self.weekend.iter().filter(|w| !**w).count() as i64
    }

    fn next_working_on_or_after(&self, d: NaiveDate) -> Option<NaiveDate> {
        if self.workdays_per_week() == 0 {
            return self.makeup_workdays.range(d..).next().copied();
        }
        // Terminates: the holiday list is finite and some weekday is not a weekend.
        let mut current = d;
        while !self.is_working_day(current) {
            current = current.succ_opt()?;
        }
        Some(current)
    }

    /// Working days in `[from, until)`, in time independent of the interval's length apart
    /// from the holiday and make-up days that fall inside it.
    fn count_working_days(&self, from: NaiveDate, until: NaiveDate) -> i64 {
        if until <= from {
            return 0;
        }
        let days = (until - from).num_days();
        let first = from.weekday().num_days_from_monday() as i64;
        let tail_weekdays =
            (0..days % 7).filter(|i| !self.weekend[((first + i) % 7) as usize]).count() as i64;
        let mut count = days / 7 * self.workdays_per_week() + tail_weekdays;

        for d in self.holidays.range(from..until) {
            if !self.is_weekend(*d) && !self.makeup_workdays.contains(d) {
                count -= 1;
            }
        }
        for d in self.makeup_workdays.range(from..until) {
            if self.is_weekend(*d) {
                count += 1;
            }
        }
        count
    }
}

fn nanos_into_day(t: NaiveDateTime) -> i64 {
    // chrono encodes a leap second as nanosecond ≥ 1e9; fold it into the day's last second
    // so a fraction of a day never exceeds 1.
    let nanos = i64::from(t.nanosecond().min(999_999_999));
    i64::from(t.num_seconds_from_midnight()) * 1_000_000_000 + nanos
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// An instant given in Shanghai local time.
    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap() - TimeDelta::hours(8)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn national_day_2026() -> WorkCalendar {
        WorkCalendar::new(
            vec![Weekday::Sat, Weekday::Sun],
            (1..=7).map(|d| date(2026, 10, d)),
            [date(2026, 9, 27), date(2026, 10, 10)],
            480,
        )
    }

    fn assert_close(actual: f64, expected: f64, case: &str) {
        assert!((actual - expected).abs() < 1e-9, "{case}: got {actual}, expected {expected}");
    }

    #[test]
    fn working_day_rules() {
        let plain = WorkCalendar::china_default();
        let holidays = national_day_2026();
        let cases = [
            (&plain, date(2026, 1, 2), true, "Friday"),
            (&plain, date(2026, 1, 3), false, "Saturday"),
            (&plain, date(2026, 1, 4), false, "Sunday"),
            (&holidays, date(2026, 10, 1), false, "holiday on a Thursday"),
            (&holidays, date(2026, 10, 3), false, "holiday on a Saturday"),
            (&holidays, date(2026, 9, 27), true, "make-up Sunday"),
            (&holidays, date(2026, 10, 10), true, "make-up Saturday"),
            (&holidays, date(2026, 10, 8), true, "first day back"),
        ];
        for (calendar, d, expected, case) in cases {
            assert_eq!(calendar.is_working_day(d), expected, "{case}");
        }
    }

    #[test]
    fn working_days_between_table() {
        let plain = WorkCalendar::china_default();
        let holidays = national_day_2026();
        #[rustfmt::skip]
        let cases = [
            (&plain, sh(2026, 1, 5, 0, 0), sh(2026, 1, 10, 0, 0), 5.0, "plain Monday-Friday week"),
            (&plain, sh(2026, 1, 5, 0, 0), sh(2026, 1, 12, 0, 0), 5.0, "whole calendar week"),
            (&plain, sh(2026, 1, 5, 9, 0), sh(2026, 1, 5, 21, 0), 0.5, "within one day"),
            (&plain, sh(2026, 1, 3, 9, 0), sh(2026, 1, 3, 21, 0), 0.0, "within a Saturday"),
            (&plain, sh(2026, 1, 9, 9, 0), sh(2026, 1, 12, 9, 0), 1.0, "Fri 09:00 to Mon 09:00"),
            (&plain, sh(2026, 1, 9, 18, 0), sh(2026, 1, 12, 6, 0), 0.5, "Fri evening to Mon morning"),
            (&plain, sh(2026, 1, 12, 9, 0), sh(2026, 1, 9, 9, 0), 0.0, "from after to"),
            (&plain, sh(2026, 1, 12, 9, 0), sh(2026, 1, 12, 9, 0), 0.0, "empty interval"),
            (&holidays, sh(2026, 9, 28, 0, 0), sh(2026, 10, 12, 0, 0), 6.0, "National Day fortnight"),
            (&holidays, sh(2026, 9, 26, 0, 0), sh(2026, 9, 28, 0, 0), 1.0, "make-up Sunday weekend"),
            (&holidays, sh(2026, 9, 30, 12, 0), sh(2026, 10, 8, 12, 0), 1.0, "across the holidays"),
            (&holidays, sh(2026, 10, 1, 0, 0), sh(2026, 10, 8, 0, 0), 0.0, "holiday week itself"),
            // 15:30 UTC Friday is 23:30 Friday in Shanghai; 23:30 UTC is already Saturday.
            (&plain, utc(2026, 1, 9, 15, 30), utc(2026, 1, 9, 23, 30), 1.0 / 48.0, "offset moves the day"),
        ];
        for (calendar, from, to, expected, case) in cases {
            assert_close(calendar.working_days_between(from, to), expected, case);
        }
    }

    #[test]
    fn local_date_uses_the_offset() {
        let plain = WorkCalendar::china_default();
        assert_eq!(plain.local_date(utc(2026, 1, 9, 15, 59)), date(2026, 1, 9));
        assert_eq!(plain.local_date(utc(2026, 1, 9, 23, 30)), date(2026, 1, 10));
        let west = WorkCalendar::new(vec![Weekday::Sat, Weekday::Sun], [], [], -300);
        assert_eq!(west.local_date(utc(2026, 1, 10, 2, 0)), date(2026, 1, 9));
        assert_close(
            west.working_days_between(utc(2026, 1, 10, 2, 0), utc(2026, 1, 10, 5, 0)),
            0.125,
            "west",
        );
    }

    #[test]
    fn add_working_days_table() {
        let plain = WorkCalendar::china_default();
        let holidays = national_day_2026();
        let cases = [
            (&plain, date(2026, 1, 5), 0, date(2026, 1, 5), "n=0 on a working day"),
            (&plain, date(2026, 1, 3), 0, date(2026, 1, 5), "n=0 on a Saturday"),
            (&plain, date(2026, 1, 9), 1, date(2026, 1, 12), "Friday + 1"),
            (&plain, date(2026, 1, 3), 1, date(2026, 1, 5), "Saturday + 1"),
            (&plain, date(2026, 1, 5), 5, date(2026, 1, 12), "one week"),
            (&plain, date(2026, 1, 5), 10, date(2026, 1, 19), "two weeks"),
            (&plain, date(2026, 1, 1), 260, date(2026, 12, 31), "a year of weekdays"),
            (&holidays, date(2026, 9, 30), 1, date(2026, 10, 8), "over the holiday week"),
            (&holidays, date(2026, 10, 9), 1, date(2026, 10, 10), "onto the make-up Saturday"),
            (&holidays, date(2026, 9, 26), 1, date(2026, 9, 27), "onto the make-up Sunday"),
            (&holidays, date(2026, 10, 2), 0, date(2026, 10, 8), "n=0 inside the holiday"),
            (&holidays, date(2026, 9, 21), 20, date(2026, 10, 22), "long jump across the holiday"),
        ];
        for (calendar, start, n, expected, case) in cases {
            assert_eq!(calendar.add_working_days(start, n), expected, "{case}");
        }
    }

    #[test]
    fn add_working_days_never_hangs() {
        let no_workdays = WorkCalendar::new(
            vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            [],
            [date(2026, 3, 1)],
            0,
        );
        assert_eq!(no_workdays.add_working_days(date(2026, 1, 1), 0), date(2026, 3, 1));
        assert_eq!(no_workdays.add_working_days(date(2026, 1, 1), 1), date(2026, 3, 1));
        assert_eq!(no_workdays.add_working_days(date(2026, 1, 1), 2), NaiveDate::MAX);
        let plain = WorkCalendar::china_default();
        assert_eq!(plain.add_working_days(date(2026, 1, 1), u32::MAX), NaiveDate::MAX);
    }

    #[test]
    fn century_long_interval_counts_weekdays() {
        let plain = WorkCalendar::china_default();
        // 2000-01-03 is a Monday; 5218 whole weeks later is 2100-01-04.
        let days = plain.working_days_between(sh(2000, 1, 3, 0, 0), sh(2100, 1, 4, 0, 0));
        assert_close(days, 5218.0 * 5.0, "a century");
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000-01-01 .. 2040-01-01, to the nanosecond.
        (946_684_800i64..2_208_988_800i64, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
    }

    proptest! {
        #[test]
        fn working_time_is_additive(
            a in instant(), b in instant(), c in instant(), offset in -720i32..=840,
        ) {
            let mut sorted = [a, b, c];
            sorted.sort();
            let [a, b, c] = sorted;
            let calendar = WorkCalendar::new(
                vec![Weekday::Sat, Weekday::Sun],
                (1..=7).map(|d| date(2026, 10, d)),
                [date(2026, 9, 27), date(2026, 10, 10)],
                offset,
            );
            let whole = calendar.working_days_between(a, c);
            let parts = calendar.working_days_between(a, b) + calendar.working_days_between(b, c);
            prop_assert!((whole - parts).abs() < 1e-9, "{} vs {}", whole, parts);
            let calendar_days = (c - a).num_nanoseconds().unwrap() as f64 / NANOS_PER_DAY;
            prop_assert!(whole <= calendar_days + 1e-9);
            prop_assert!(whole >= 0.0);
        }

        #[test]
        fn add_working_days_lands_on_working_days(start_offset in 0u64..20_000, n in 0u32..2_000) {
            let calendar = national_day_2026();
            let start = date(2000, 1, 1) + chrono::Days::new(start_offset);
            let end = calendar.add_working_days(start, n);
            prop_assert!(calendar.is_working_day(end));
            prop_assert!(end >= start);
            if n > 0 {
                let after_start = start.succ_opt().unwrap();
                let after_end = end.succ_opt().unwrap();
                prop_assert_eq!(calendar.count_working_days(after_start, after_end), i64::from(n));
            }
        }
    }
}
