//! The landing page: what this is, where the endpoints are, and a small
//! status table. Every dynamic value is HTML-escaped; the store holds no
//! secrets, so nothing secret can appear here.

use std::fmt::Write as _;

use crate::metrics::BUILD;
use crate::state::Store;

pub(super) fn page(store: &Store) -> String {
    let mut s = String::with_capacity(2048 + 160 * store.subscriptions.len());
    s.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>smc-exporter</title>\n\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}</style>\n\
         </head>\n<body>\n<h1>smc-exporter</h1>\n\
         <p>Prometheus exporter for Forcepoint NGFW Security Management Center session monitoring.</p>\n",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "<p>Version {} (revision {})</p>",
        escape(BUILD.version),
        escape(BUILD.revision)
    );
    s.push_str(
        "<ul>\n<li><a href=\"/metrics\">/metrics</a></li>\n\
         <li><a href=\"/-/healthy\">/-/healthy</a></li>\n\
         <li><a href=\"/-/ready\">/-/ready</a></li>\n</ul>\n\
         <h2>Subscriptions</h2>\n",
    );
    if store.subscriptions.is_empty() {
        s.push_str("<p>No subscriptions configured.</p>\n");
    } else {
        s.push_str(
            "<table>\n<tr><th>smc</th><th>target</th><th>definition</th>\
             <th>up</th><th>entries</th></tr>\n",
        );
        for sub in &store.subscriptions {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&sub.smc),
                escape(&sub.target),
                escape(sub.definition.label()),
                if sub.health.up() { "up" } else { "down" },
                sub.published().entries,
            );
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// Escape text for HTML element content and quoted attribute values.
pub(super) fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
    }
}
