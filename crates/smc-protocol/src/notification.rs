//! The notification socket (`/{ver}/notification/socket`, protocol §5):
//! the subscribe frame a client sends, and the server's messages decoded
//! into narrow, borrowed types.
//!
//! Server messages: an acknowledgement (`success`, with `subscription_id`
//! and `context`), `failure`, and element events — API > 6.5 sends one per
//! message (`{"event":{"type","element"},"subscription_id"}`), API ≤ 6.5 a
//! list (`{"events":[…]}`). Both forms decode to [`Notification::Events`].
//! Unknown keys are ignored; an event without a string `type` or `element`
//! is dropped (counted by the caller as the events it did not get).

use std::borrow::Cow;

use serde::Deserialize;

/// The frame that subscribes to changes of the elements of `types`
/// (entry-point rels such as `host`): one channel for all of them, so a
/// change is delivered once.
pub fn subscribe_frame(types: &[String]) -> String {
    serde_json::json!({ "context": types.join(",") }).to_string()
}

/// One element change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementEvent<'a> {
    /// `create`, `update`, `delete`, `trashed`, … as the SMC names it.
    pub action: Cow<'a, str>,
    /// The element's href, `…/elements/<type>/<id>`.
    pub element: Cow<'a, str>,
}

impl ElementEvent<'_> {
    /// The element type of the href: the path segment after `elements`
    /// (`host` in `…/7.1/elements/host/12`), if there is one.
    pub fn element_type(&self) -> Option<&str> {
        let path = self.element.split(['?', '#']).next().unwrap_or_default();
        let mut segments = path.split('/');
        segments.find(|s| *s == "elements")?;
        segments.next().filter(|s| !s.is_empty())
    }
}

/// A server message of the notification socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification<'a> {
    /// `success`: a subscription was registered.
    Subscribed { subscription_id: Option<i64> },
    /// `failure`: the SMC refused the frame (the text is the SMC's).
    Failure(Cow<'a, str>),
    /// Element events, with how many list items were not events.
    Events {
        events: Vec<ElementEvent<'a>>,
        malformed: usize,
    },
    /// A JSON object with none of the keys above.
    Other,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(default)]
    success: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    failure: Option<Cow<'a, str>>,
    #[serde(default)]
    subscription_id: Option<i64>,
    #[serde(borrow, default)]
    event: Option<RawEvent<'a>>,
    #[serde(borrow, default)]
    events: Option<Vec<RawEvent<'a>>>,
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default, rename = "type")]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    element: Option<Cow<'a, str>>,
}

impl<'a> RawEvent<'a> {
    fn event(self) -> Option<ElementEvent<'a>> {
        Some(ElementEvent {
            action: self.action?,
            element: self.element?,
        })
    }
}

/// Why a frame is not a notification message.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("invalid message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Decode one text frame of the notification socket.
pub fn decode_notification(text: &str) -> Result<Notification<'_>, NotificationError> {
    // serde would take an array for the struct's fields in order.
    if !text.trim_start().starts_with('{') {
        return Err(NotificationError::NotAnObject);
    }
    let raw: Raw<'_> = serde_json::from_str(text)?;
    if let Some(f) = raw.failure {
        return Ok(Notification::Failure(f));
    }
    let list: Vec<RawEvent<'_>> = raw.events.unwrap_or_default();
    if raw.event.is_some() || !list.is_empty() {
        let total = list.len() + usize::from(raw.event.is_some());
        let events: Vec<ElementEvent<'_>> = raw
            .event
            .into_iter()
            .chain(list)
            .filter_map(RawEvent::event)
            .collect();
        let malformed = total - events.len();
        return Ok(Notification::Events { events, malformed });
    }
    if raw.success.is_some() {
        return Ok(Notification::Subscribed {
            subscription_id: raw.subscription_id,
        });
    }
    Ok(Notification::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(action: &'a str, element: &'a str) -> ElementEvent<'a> {
        ElementEvent {
            action: action.into(),
            element: element.into(),
        }
    }

    #[test]
    fn both_event_forms_decode_to_events() {
        let new = r#"{"event":{"type":"create","element":"http://h:8082/7.1/elements/host/1732"},"subscription_id":1}"#;
        assert_eq!(
            decode_notification(new).unwrap(),
            Notification::Events {
                events: vec![ev("create", "http://h:8082/7.1/elements/host/1732")],
                malformed: 0
            }
        );
        let old = r#"{"events":[{"type":"delete","element":"http://h/6.5/elements/network/8"},{"type":"update"},{"element":"x"},{"type":"trashed","element":"http://h/6.5/elements/host/9"}],"subscription_id":2}"#;
        assert_eq!(
            decode_notification(old).unwrap(),
            Notification::Events {
                events: vec![
                    ev("delete", "http://h/6.5/elements/network/8"),
                    ev("trashed", "http://h/6.5/elements/host/9")
                ],
                malformed: 2
            }
        );
    }

    #[test]
    fn acks_failures_and_others() {
        assert_eq!(
            decode_notification(r#"{"success":"Subscribed","subscription_id":3,"context":"host"}"#)
                .unwrap(),
            Notification::Subscribed {
                subscription_id: Some(3)
            }
        );
        assert_eq!(
            decode_notification(r#"{"failure":"Unknown context \"hots\""}"#).unwrap(),
            Notification::Failure("Unknown context \"hots\"".into())
        );
        assert_eq!(
            decode_notification(r#"{"status":"x"}"#).unwrap(),
            Notification::Other
        );
        assert!(decode_notification("[1]").is_err());
        assert!(decode_notification(r#"{"event":"create"}"#).is_err());
    }

    #[test]
    fn the_element_type_is_the_segment_after_elements() {
        let t = |href| ev("create", href).element_type().map(str::to_string);
        assert_eq!(
            t("http://h:8082/7.1/elements/host/1732").as_deref(),
            Some("host")
        );
        assert_eq!(
            t("https://h/7.0/elements/single_fw/5?x=1").as_deref(),
            Some("single_fw")
        );
        assert_eq!(t("http://h/7.1/elements/").as_deref(), None);
        assert_eq!(t("http://h/7.1/other/host/1").as_deref(), None);
    }

    #[test]
    fn subscribe_frame_names_every_type_in_one_context() {
        assert_eq!(
            subscribe_frame(&["host".into(), "network".into()]),
            r#"{"context":"host,network"}"#
        );
    }
}
