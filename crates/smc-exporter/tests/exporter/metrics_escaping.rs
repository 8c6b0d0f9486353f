//! Any label value survives the exposition: parsing a rendered sample line and
//! unescaping its label values gives back the original strings.

use std::sync::Arc;

use proptest::prelude::*;
use smc_exporter::metrics::{Format, render_with};
use smc_exporter::state::{SmcState, Store};
use smc_protocol::Definition;

/// Parse `name{k="v",...} value` per the exposition grammar, unescaping values.
fn parse_labels(line: &str) -> Vec<(String, String)> {
    let body = &line[line.find('{').unwrap() + 1..];
    let mut out = Vec::new();
    let mut chars = body.chars();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().unwrap() {
                '\\' => match chars.next().unwrap() {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => panic!("bad escape \\{c}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in a label value"),
                c => value.push(c),
            }
        }
        out.push((key, value));
        match chars.next() {
            Some(',') => continue,
            Some('}') => return out,
            c => panic!("unexpected {c:?}"),
        }
    }
}

proptest! {
    #[test]
    fn label_values_round_trip(target in "\\PC*", node in any::<String>(), state in "[\\\\\"\n a-z]{0,12}") {
        let sub = crate::fixture::sub("smc-a", &target, Definition::Connections, &["node", "protocol", "state"], &[(&[&node, "TCP", &state], 1)], 1);
        let store = Store {
        runtime: None,
            smcs: vec![Arc::new(SmcState::new("smc-a".into()))],
            subscriptions: vec![sub],
            budgets: Vec::new(),
            ..Store::default()
        };
        for f in [Format::OpenMetrics, Format::Text] {
            let out = render_with(&store, f, &crate::fixture::GOLDEN);
            let line = out.lines().find(|l| l.starts_with("smc_connections{")).unwrap();
            let labels = parse_labels(line);
            let want: Vec<(String, String)> = [("smc", "smc-a"), ("engine", &target), ("node", &node), ("protocol", "TCP"), ("state", &state)]
                .iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            prop_assert_eq!(labels, want);
            prop_assert!(line.ends_with("} 1"), "sample value: {}", line);
        }
    }
}

#[test]
fn engine_and_node_names_are_escaped_in_the_engine_families() {
    use smc_exporter::state::engines::*;
    let st = EngineState::new("smc-a".into());
    st.publish(EngineSnapshot {
        engines: vec![EngineInfo {
            name: "fw \"edge\"\nx\\y".into(),
            etype: "single_fw".into(),
            nodes: vec![NodeInfo {
                name: "n\n1".into(),
                health: Some(NodeHealth {
                    status: Some("Online\n# TYPE forged gauge".into()),
                    ..NodeHealth::default()
                }),
            }],
        }],
    });
    let store = Store {
        engines: vec![Arc::new(st)],
        ..Store::default()
    };
    for f in [Format::OpenMetrics, Format::Text] {
        let out = render_with(&store, f, &crate::fixture::GOLDEN);
        assert!(out.contains(
            r#"smc_engine_node_status{smc="smc-a",engine="fw \"edge\"\nx\\y",node="n\n1",status="other"} 1"#
        ), "{out}");
        assert!(!out.contains("# TYPE forged"));
        assert!(
            out.lines()
                .all(|l| !l.starts_with("x\\y") && !l.starts_with("1\""))
        );
    }
}
