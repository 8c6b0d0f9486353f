//! The length cap on label values.

/// The longest label value the exporter exports, in bytes. A longer record
/// field value is cut to its longest prefix of at most this many bytes that
/// ends on a character boundary (no marker: the cut value is a prefix of the
/// real one), and the cut is counted per family
/// (`smc_exporter_label_values_truncated_total`).
///
/// Why 1 KiB: the groupable fields are SMC element names (nodes, zones,
/// interfaces, gateways, VPNs, services) and short enumerations, tens of
/// bytes in practice, so a real value is never cut (a cut can merge two
/// series whose values differ only past it); it stays under the 2,048-byte
/// label value limit of Cortex and Mimir (`-validation.max-length-label-value`),
/// so a cut value is still accepted by remote storage; and it bounds a hostile
/// SMC's label text to 1 KiB per label per series (the fifty 1 MiB
/// values: about 50 KiB instead of 52 MB), with the number of series bounded
/// by `max_series_per_family`.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;

/// `v`, cut to at most [`MAX_LABEL_VALUE_BYTES`] on a character boundary.
pub fn cap_label_value(v: &str) -> &str {
    if v.len() <= MAX_LABEL_VALUE_BYTES {
        return v;
    }
    let mut end = MAX_LABEL_VALUE_BYTES;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_kept() {
        let v = "x".repeat(MAX_LABEL_VALUE_BYTES);
        assert_eq!(cap_label_value(&v), v);
        assert_eq!(cap_label_value(""), "");
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let ascii = "a".repeat(1 << 20);
        assert_eq!(cap_label_value(&ascii).len(), 1024);
        // 2-byte characters: 512 of them fit exactly.
        let two = "é".repeat(600);
        assert_eq!(cap_label_value(&two), "é".repeat(512));
        // 3-byte characters: 341 (1,023 bytes); the 342nd would cross the cap.
        let three = "€".repeat(400);
        assert_eq!(cap_label_value(&three), "€".repeat(341));
        // 4-byte characters after one ASCII byte: 1 + 4·255 = 1,021 bytes.
        let four = format!("x{}", "🦀".repeat(300));
        assert_eq!(cap_label_value(&four), format!("x{}", "🦀".repeat(255)));
    }
}
