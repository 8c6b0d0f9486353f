//! `/sim/sps/*` on the SMC simulator's control server (contract §E).

use serde_json::{Value, json};

use super::{Sps, faults};

/// A control answer: status and JSON body, or a text body (the truth).
pub(crate) enum Answer {
    Json(u16, Value),
    Text(String),
}

fn err(status: u16, details: &str) -> Answer {
    Answer::Json(status, json!({"details": details, "status": status}))
}

/// Serve `/sim/sps/<rest>`.
pub(crate) fn control<'a>(
    sps: &Sps,
    post: bool,
    rest: &[&str],
    param: impl Fn(&str) -> Option<&'a str>,
) -> Answer {
    match (post, rest) {
        (false, ["world"]) => Answer::Json(200, json!(sps.info())),
        (false, ["truth"]) => truth(sps, param("since"), param("sps")),
        (false, ["requests"]) => Answer::Json(200, json!(sps.requests())),
        (true, ["churn"]) => churn(sps, param("steps"), param("rate")),
        (true, ["fault", kind]) => match faults::control(sps, kind, param) {
            Ok(v) => Answer::Json(200, v),
            Err(e @ faults::SpsFaultError::UnknownKind(_)) => Answer::Json(
                404,
                json!({"details": e.to_string(), "status": 404, "kinds": faults::SPS_FAULT_KINDS}),
            ),
            Err(e) => err(400, &e.to_string()),
        },
        _ => err(404, "Unknown SPS simulator control endpoint"),
    }
}

fn truth(sps: &Sps, since: Option<&str>, name: Option<&str>) -> Answer {
    let Some(since) = since
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite())
    else {
        return err(400, "since must be unix seconds (a number)");
    };
    match sps.truth_text(since, name.unwrap_or("pam")) {
        Some(t) => Answer::Text(t),
        None => err(
            501,
            "no SPS ground-truth renderer: this simulator was started without SpsOptions::truth_text (smc-lab has one)",
        ),
    }
}

fn churn(sps: &Sps, steps: Option<&str>, rate: Option<&str>) -> Answer {
    if let Some(rate) = rate {
        return match rate.parse::<f64>() {
            Ok(r) if r.is_finite() && r >= 0.0 => {
                sps.set_churn_rate(r);
                Answer::Json(200, json!({ "rate": r }))
            }
            _ => err(400, "rate must be a number ≥ 0"),
        };
    }
    match steps.unwrap_or("1").parse::<u32>() {
        Ok(n) if n <= 1_000_000 => Answer::Json(200, json!({ "applied": sps.churn(n) })),
        _ => err(400, "steps must be an integer in 0..=1000000"),
    }
}

/// [`faults::control`] for [`crate::SimServer::sps_fault`].
pub(crate) fn fault<'a>(
    sps: &Sps,
    kind: &str,
    param: impl Fn(&str) -> Option<&'a str>,
) -> Result<Value, faults::SpsFaultError> {
    faults::control(sps, kind, param)
}
