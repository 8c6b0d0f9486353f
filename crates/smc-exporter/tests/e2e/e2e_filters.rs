//! `[smc.filters]` end to end (issue 13, item 3): a CONNECTIONS
//! subscription with a `translated` filter serves exactly the rows the
//! simulator's truth keeps under the same filter, after the snapshot and
//! after churn (rows that stop matching leave, rows that start matching
//! arrive).

use std::sync::Arc;

use smc_lab::truth::render;
use smc_lab::*;
use smc_protocol::Definition;
use smc_sim::{SimOptions, SimServer, TableTruth};

const FILTER: &str = r#"$Protocol == "TCP" AND $Dport != 443"#;

fn filter_json() -> serde_json::Value {
    serde_json::json!({"type": "translated", "value": FILTER})
}

/// The CONNECTIONS tables of the truth, filtered.
fn filtered(sim: &SimServer) -> Vec<TableTruth> {
    let mut t = sim.truth_tables_filtered(&filter_json()).unwrap();
    t.retain(|t| t.definition == Definition::Connections);
    t
}

fn rows(tables: &[TableTruth]) -> usize {
    tables.iter().map(|t| t.rows.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_subscription_equals_the_filtered_truth() {
    let opts = SimOptions {
        seed: 23,
        ..SimOptions::default()
    };
    let pair = start_pair_opts(opts, |cfg, _| {
        let smc = &mut cfg.smc[0];
        smc.definitions = vec![Definition::Connections];
        smc.alert_domains.clear();
        smc.filters
            .insert(Definition::Connections, Arc::new(filter_json()));
    })
    .await;
    pair.ready().await;
    // The filter keeps some rows and leaves out others, or the test would
    // prove nothing.
    let all: usize = pair
        .sim
        .truth_tables()
        .iter()
        .filter(|t| t.definition == Definition::Connections)
        .map(|t| t.rows.len())
        .sum();
    let kept = rows(&filtered(&pair.sim));
    assert!(0 < kept && kept < all, "kept {kept} of {all} rows");

    let smc = pair.smc.clone();
    pair.converge_to(|| render(&filtered(&pair.sim), &smc))
        .await;
    assert_eq!(pair.sim.churn(600), 600);
    pair.converge_to(|| render(&filtered(&pair.sim), &smc))
        .await;
}
