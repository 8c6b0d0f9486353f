//! The simulator's ground truth as the exporter should serve it: the state
//! families in Prometheus text 0.0.4, rows counted per series of the default
//! `group_by` labels. Family names, HELP, the target label and the labels
//! come from `smc-exporter`'s `labels` module (the one metric contract),
//! escaping from its exposition encoder; the values from the simulator's
//! structured rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use smc_exporter::labels::{GroupField, StateFamily};
use smc_exporter::metrics::exposition::escape_label_value;
use smc_protocol::{Definition, Transform};
use smc_sim::{SimServer, TableTruth, TruthRow, TruthText};

/// The expected state families of `tables` for an SMC named `smc`.
pub fn render(tables: &[TableTruth], smc: &str) -> String {
    let mut out = String::new();
    for def in Definition::ALL {
        let family = def.family();
        let _ = writeln!(out, "# HELP {family} {}", def.family_help());
        let _ = writeln!(out, "# TYPE {family} gauge");
        let names = def.default_group_by();
        let fields: Vec<Option<GroupField>> = names.iter().map(|l| def.group_field(l)).collect();
        let mut series: BTreeMap<(&str, Vec<String>), u64> = BTreeMap::new();
        for t in tables.iter().filter(|t| t.definition == def) {
            for row in &t.rows {
                let values = fields.iter().map(|g| label_value(row, *g)).collect();
                *series.entry((t.target.as_str(), values)).or_default() += 1;
            }
        }
        for ((target, values), n) in series {
            let _ = write!(out, "{family}{{");
            let labels = [("smc", smc), (def.target_label(), target)]
                .into_iter()
                .chain(names.iter().copied().zip(values.iter().map(String::as_str)));
            for (i, (l, v)) in labels.enumerate() {
                let _ = write!(out, "{}{l}=\"", if i == 0 { "" } else { "," });
                escape_label_value(&mut out, v);
                out.push('"');
            }
            let _ = writeln!(out, "}} {n}");
        }
    }
    out
}

/// The label value a row should have: the field's value, a severity
/// lowercased (`Critical` → `critical`; written here, not with the
/// exporter's transform, so that the oracle does not share its code).
fn label_value(row: &TruthRow, g: Option<GroupField>) -> String {
    let Some(g) = g else {
        return String::new();
    };
    let raw = row.get(g.field).unwrap_or_default();
    match g.transform {
        Transform::AsIs => raw.to_owned(),
        Transform::Severity => raw.to_ascii_lowercase(),
    }
}

/// [`render`] as the simulator's `GET /sim/truth` renderer.
pub fn renderer() -> TruthText {
    TruthText::new(render)
}

/// The expected state families of `sim` now (what `GET /sim/truth?smc=`
/// answers when it was started with [`renderer`]).
pub fn truth_text(sim: &SimServer, smc: &str) -> String {
    render(&sim.truth_tables(), smc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[(u32, &str)]) -> TruthRow {
        TruthRow::new(values.iter().map(|(f, v)| (*f, v.to_string())).collect())
    }

    #[test]
    fn rows_are_counted_per_default_series() {
        let tables = [
            TableTruth {
                definition: Definition::ActiveAlerts,
                target: "Shared \"Domain\"".into(),
                rows: vec![
                    row(&[(4, "n1"), (602, "Critical")]),
                    row(&[(4, "n2"), (602, "Critical")]),
                    row(&[(602, "Low")]),
                ],
            },
            TableTruth {
                definition: Definition::Connections,
                target: "fw".into(),
                rows: vec![row(&[(4, "n1"), (11, "TCP")])],
            },
        ];
        let text = render(&tables, "s");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"smc_connections{smc="s",engine="fw",node="n1",protocol="TCP",state=""} 1"#,
                r#"smc_active_alerts{smc="s",domain="Shared \"Domain\"",severity="critical"} 2"#,
                r#"smc_active_alerts{smc="s",domain="Shared \"Domain\"",severity="low"} 1"#,
            ]
        );
        assert!(text.starts_with(
            "# HELP smc_connections Connections in the engine's state table (CONNECTIONS).\n# TYPE smc_connections gauge\n"
        ));
        assert_eq!(text.matches("# TYPE ").count(), Definition::ALL.len());
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\"b\\c\nd");
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }
}
