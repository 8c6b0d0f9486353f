//! SPS timestamps: microseconds since the Unix epoch, parsed from RFC 3339
//! (`2026-12-01T10:00:00.123456Z`, `…+05:00`, or without a zone = UTC, as
//! alert times are) and from an HTTP `Date` header (IMF-fixdate). Pure, no
//! clock: the watermark is in SPS time, never the local one.

/// A point in SPS time, microseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SpsTime(pub i64);

const MICROS: i64 = 1_000_000;

impl SpsTime {
    pub fn from_secs_f64(s: f64) -> SpsTime {
        SpsTime((s * MICROS as f64).round() as i64)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS as f64
    }
    pub fn minus(self, d: std::time::Duration) -> SpsTime {
        SpsTime(
            self.0
                .saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }
    pub fn plus_micros(self, us: i64) -> SpsTime {
        SpsTime(self.0.saturating_add(us))
    }

    /// RFC 3339 in UTC with six fraction digits and `Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(MICROS);
        let us = self.0.rem_euclid(MICROS);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    /// Parse RFC 3339; no zone means UTC. `None` for anything else.
    pub fn parse_rfc3339(s: &str) -> Option<SpsTime> {
        let b = s.trim().as_bytes();
        if b.len() < 19 || b.len() > 40 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let n = |r: std::ops::Range<usize>| digits(b.get(r)?);
        let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
        let (h, mi, sec) = (n(11..13)?, n(14..16)?, n(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut i = 19;
        let mut us = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 6 {
                    us = us * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..6 {
                us *= 10;
            }
        }
        let offset = match b.get(i) {
            None => 0,
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let o = n(i + 1..i + 3)? * 3600 + n(i + 4..i + 6)? * 60;
                if c == b'+' { o } else { -o }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
        Some(SpsTime(secs * MICROS + us))
    }

    /// Parse an HTTP `Date` header: `Tue, 01 Dec 2026 10:00:00 GMT`.
    pub fn parse_http_date(s: &str) -> Option<SpsTime> {
        let parts: Vec<&str> = s.split_ascii_whitespace().collect();
        let [_, d, mon, y, hms, "GMT"] = parts.as_slice() else {
            return None;
        };
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mo = MONTHS.iter().position(|m| m == mon)? as i64 + 1;
        let text = format!("{y:0>4}-{mo:02}-{d:0>2}T{hms}Z");
        SpsTime::parse_rfc3339(&text)
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        let z = SpsTime::parse_rfc3339("2026-12-01T10:00:00.123456Z").unwrap();
        assert_eq!(z.0, 1_796_119_200_123_456);
        assert_eq!(z.to_rfc3339(), "2026-12-01T10:00:00.123456Z");
        let off = SpsTime::parse_rfc3339("2026-12-01T15:00:00.123456+05:00").unwrap();
        assert_eq!(off, z);
        let alert = SpsTime::parse_rfc3339("2017-04-25T13:26:39.144356").unwrap();
        assert_eq!(alert.to_rfc3339(), "2017-04-25T13:26:39.144356Z");
        assert_eq!(
            SpsTime::parse_rfc3339("1970-01-01T00:00:00Z"),
            Some(SpsTime(0))
        );
        assert_eq!(
            SpsTime::parse_rfc3339("2024-02-29T00:00:00.5Z")
                .unwrap()
                .to_rfc3339(),
            "2024-02-29T00:00:00.500000Z"
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-12-01 10:00",
            "x026-12-01T10:00:00Z",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10:00:00+0500",
        ] {
            assert_eq!(SpsTime::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            SpsTime::parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT"),
            SpsTime::parse_rfc3339("2026-12-01T10:00:00Z")
        );
        assert_eq!(
            SpsTime::parse_http_date("Tue, 01 Dec 2026 10:00:00 PST"),
            None
        );
        assert_eq!(SpsTime::parse_http_date("garbage"), None);
    }
}
