//! Search windows below the 10,000-result cap (`docs/sps-api.md` §4.3):
//! a window whose first page says `match_count > 10000` is bisected into
//! two `q=start_time:[A TO B]` windows, earliest first. Pure.

use super::time::SpsTime;

/// Results beyond this many matches cannot be reached by offset paging.
pub const RESULT_CAP: u64 = 10_000;
/// A window is never split into more than this many pieces per cycle.
pub const MAX_WINDOWS: usize = 256;

/// Sessions with `from <= start_time <= to` (`to` `None`: no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: SpsTime,
    pub to: Option<SpsTime>,
}

impl Window {
    /// The `q` parameter, if the window has an upper bound.
    pub fn query(&self) -> Option<String> {
        self.to.map(|to| {
            format!(
                "start_time:[{} TO {}]",
                self.from.to_rfc3339(),
                to.to_rfc3339()
            )
        })
    }

    /// Two halves, earliest first, that together hold exactly this window
    /// (`now` bounds an open window). `None` when it cannot shrink further.
    pub fn split(&self, now: SpsTime) -> Option<(Window, Window)> {
        let to = self.to.unwrap_or(now);
        if to.0 - self.from.0 < 1 {
            return None;
        }
        let mid = SpsTime(self.from.0 + (to.0 - self.from.0) / 2);
        Some((
            Window {
                from: self.from,
                to: Some(mid),
            },
            Window {
                from: mid.plus_micros(1),
                to: Some(to),
            },
        ))
    }
}

/// The windows still to search this cycle, earliest first.
#[derive(Debug)]
pub struct Plan {
    stack: Vec<Window>,
    pub splits: u64,
    made: usize,
}

impl Plan {
    pub fn new(from: SpsTime) -> Plan {
        Plan {
            stack: vec![Window { from, to: None }],
            splits: 0,
            made: 1,
        }
    }

    pub fn pop(&mut self) -> Option<Window> {
        self.stack.pop()
    }

    /// `w` matched `match_count` sessions: split it if over the cap (and
    /// `true`: search the halves instead). `false`: page through `w`.
    pub fn over_cap(&mut self, w: Window, match_count: u64, now: SpsTime) -> bool {
        if match_count <= RESULT_CAP || self.made + 2 > MAX_WINDOWS {
            return false;
        }
        let Some((early, late)) = w.split(now) else {
            return false;
        };
        self.stack.push(late);
        self.stack.push(early);
        self.splits += 1;
        self.made += 2;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_exactly_and_in_order() {
        let mut p = Plan::new(SpsTime(0));
        let w = p.pop().unwrap();
        assert_eq!(w.query(), None);
        assert!(!p.over_cap(w, 10_000, SpsTime(100)));
        assert!(p.over_cap(w, 10_001, SpsTime(100)));
        let a = p.pop().unwrap();
        assert_eq!((a.from, a.to), (SpsTime(0), Some(SpsTime(50))));
        assert!(p.over_cap(a, 20_000, SpsTime(100)));
        let b = p.pop().unwrap();
        let c = p.pop().unwrap();
        let d = p.pop().unwrap();
        assert_eq!((b.from, b.to), (SpsTime(0), Some(SpsTime(25))));
        assert_eq!((c.from, c.to), (SpsTime(26), Some(SpsTime(50))));
        assert_eq!((d.from, d.to), (SpsTime(51), Some(SpsTime(100))));
        assert_eq!(p.pop(), None);
        assert_eq!(p.splits, 2);
        assert_eq!(
            d.query().unwrap(),
            "start_time:[1970-01-01T00:00:00.000051Z TO 1970-01-01T00:00:00.000100Z]"
        );
    }

    #[test]
    fn a_point_window_is_not_split_and_splits_are_bounded() {
        let mut p = Plan::new(SpsTime(5));
        let w = Window {
            from: SpsTime(5),
            to: Some(SpsTime(5)),
        };
        assert!(!p.over_cap(w, 50_000, SpsTime(9)));
        let mut p = Plan::new(SpsTime(0));
        let mut n = 0;
        while let Some(w) = p.pop() {
            if !p.over_cap(w, 1_000_000, SpsTime(1 << 40)) {
                n += 1;
            }
        }
        assert!(n <= MAX_WINDOWS, "{n}");
        assert_eq!(p.splits as usize, (MAX_WINDOWS - 1) / 2);
    }
}
