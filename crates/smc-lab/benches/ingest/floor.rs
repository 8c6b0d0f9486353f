//! The parse-only floors: a minimal client on the exporter's WebSocket
//! stack (tokio-tungstenite, serde_json) that logs in, sends the
//! exporter's query and parses every frame, keeping nothing: into a
//! `serde_json::Value`, or validated only (`serde::de::IgnoredAny`). It
//! counts frames to say when the snapshot and the live stream are through
//! (`snapshot` / `live` on stdout), then idles until the socket closes.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Longest a floor child lives.
const LIFETIME: Duration = Duration::from_secs(1800);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    Value,
    Ignored,
}

pub struct FloorArgs {
    pub parse: Parse,
    pub url: String,
    pub api_key: String,
    pub snapshot_frames: usize,
    pub live_frames: usize,
}

async fn login(url: &str, key: &str) -> Result<String, String> {
    let body = serde_json::json!({"domain": "Shared Domain", "authenticationkey": key});
    let r = smc_lab::http::client()
        .post(format!("{url}/7.1/login"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or(format!("login: {} without a cookie", r.status()))?;
    Ok(cookie.to_string())
}

fn parse(p: Parse, text: &str) -> Result<(), serde_json::Error> {
    match p {
        Parse::Value => {
            std::hint::black_box(serde_json::from_str::<serde_json::Value>(text)?);
        }
        Parse::Ignored => {
            std::hint::black_box(serde_json::from_str::<serde::de::IgnoredAny>(text)?);
        }
    }
    Ok(())
}

async fn consume(a: FloorArgs) -> Result<(), String> {
    let cookie = login(&a.url, &a.api_key).await?;
    let ws_url = format!(
        "{}/7.1/monitoring/session/socket",
        a.url.replacen("http", "ws", 1)
    );
    let mut req = ws_url.into_client_request().map_err(|e| e.to_string())?;
    let cookie = cookie.parse().map_err(|_| "cookie is not a header value")?;
    req.headers_mut().insert("Cookie", cookie);
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| e.to_string())?;
    let query = smc_protocol::query_json(
        smc_protocol::Definition::Connections,
        "bench-fw",
        false,
        &[4, 11, 116],
        None,
    );
    ws.send(Message::text(query))
        .await
        .map_err(|e| e.to_string())?;
    // The first text frame is `success`; then the stream's frames.
    let mut frames = 0usize;
    let mut seen_success = false;
    while let Some(m) = ws.next().await {
        let t = match m {
            Ok(Message::Text(t)) => t,
            Ok(_) => continue,
            Err(_) => break,
        };
        parse(a.parse, t.as_str()).map_err(|e| format!("frame {frames}: {e}"))?;
        if !seen_success {
            seen_success = true;
            continue;
        }
        frames += 1;
        if frames == a.snapshot_frames {
            println!("snapshot");
        }
        if frames == a.snapshot_frames + a.live_frames {
            println!("live");
        }
    }
    Ok(())
}

/// The child's main.
pub fn child(a: FloorArgs) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    smc_exporter::smc::tls::install_default_provider();
    match rt.block_on(async { tokio::time::timeout(LIFETIME, consume(a)).await }) {
        Ok(Ok(())) | Err(_) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("floor child: {e}");
            ExitCode::FAILURE
        }
    }
}
