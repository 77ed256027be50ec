//! Where an event comes from, told by its id: the shop's platform marks every event the
//! connector makes with one prefix, so that a sample's source is known from the event that
//! opened it (the session reads it to queue the platform's review calls; the store is only
//! handed the result).

/// How every id of the connector's events begins.
pub const PLATFORM_EVENT_PREFIX: &str = "tts-";

/// The application an event brings in from the platform, when it is the connector's first
/// event of one (`tts-<app>-requested`): its sample is the platform's, and its review
/// decisions go to the outbox.
pub fn platform_application(event: &str) -> Option<&str> {
    event
        .strip_prefix(PLATFORM_EVENT_PREFIX)?
        .strip_suffix("-requested")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_platforms_first_event_of_an_application_names_it() {
        assert_eq!(platform_application("tts-a1-requested"), Some("a1"));
        assert_eq!(platform_application("tts-a1-shipped"), None);
        assert_eq!(platform_application("x-tts-a1-requested"), None);
        assert_eq!(platform_application("e1"), None);
    }
}
