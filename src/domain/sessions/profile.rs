//! A gamer's profile (CONTRACT section 2): the optional fields a session may send.
//! The list of fields is declared once, in [`with_profile_fields`]; the domain's
//! [`Profile`] and the wire's request and response types are all expanded from it.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Calls `$callback!` with every profile field as `name: Type = "doc",`, in the
/// contract's order: first the fields a session answer echoes (`shown`), then
/// those it keeps without echoing (`kept`).
macro_rules! with_profile_fields {
    ($callback:ident) => {
        $callback! {
            shown {
                name: String = "Display name.",
                username: String = "Username.",
                email: String = "Email.",
                device_id: String = "Device id.",
                phonenumber: String = "Phone number as the game knows it (not a linked phone).",
                level: i64 = "Level.",
                rank: i64 = "Rank.",
                date_joined: String = "Join date, as the game writes it.",
                playertag: String = "Player tag.",
                location: String = "Location.",
                location_name: String = "Location name.",
                device_model: String = "Device model.",
                screen_height: $crate::domain::sessions::ScreenSize = "Screen height (a string, or a number read as its text).",
                screen_width: $crate::domain::sessions::ScreenSize = "Screen width (a string, or a number read as its text).",
                os_name: String = "OS name.",
                os_version: String = "OS version.",
                browser_name: String = "Browser name.",
            }
            kept {
                fb_login: String = "Facebook login id.",
                google_login: String = "Google login id.",
                app_version: String = "App version.",
            }
        }
    };
}
pub(crate) use with_profile_fields;

/// Declares [`Profile`] from the field list.
macro_rules! declare_profile {
    (shown { $($shown:ident: $shown_type:ty = $shown_doc:literal,)* }
     kept { $($kept:ident: $kept_type:ty = $kept_doc:literal,)* }) => {
        /// Profile fields a session may send; `None` leaves the stored value as it is.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Profile {
            $(#[doc = $shown_doc] pub $shown: Option<$shown_type>,)*
            $(#[doc = $kept_doc] pub $kept: Option<$kept_type>,)*
        }

        impl Profile {
            /// This profile with every field that `update` sends replaced.
            pub fn merged(mut self, update: &Profile) -> Profile {
                $(if update.$shown.is_some() { self.$shown = update.$shown.clone(); })*
                $(if update.$kept.is_some() { self.$kept = update.$kept.clone(); })*
                self
            }
        }
    };
}
with_profile_fields!(declare_profile);

impl Profile {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// The profile stored as `json` (an unreadable one reads as empty).
    pub(crate) fn from_json(json: &str) -> Profile {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The profile as it is stored.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a profile serializes")
    }

    /// The fields this profile sets, as a JSON object of only those (what a
    /// merge over a stored profile replaces); `None` when it sets none.
    pub(crate) fn set_fields_json(&self) -> Option<String> {
        let serde_json::Value::Object(mut fields) =
            serde_json::to_value(self).expect("a profile serializes")
        else {
            return None;
        };
        fields.retain(|_, value| !value.is_null());
        (!fields.is_empty()).then(|| serde_json::Value::Object(fields).to_string())
    }
}

/// A screen size as the game sends it: a string, or a number kept as its text
/// (`1920` and `"1920"` are the same size).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ScreenSize(pub String);

impl<'de> Deserialize<'de> for ScreenSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ScreenSize, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = ScreenSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ScreenSize, E> {
                Ok(ScreenSize(value.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ScreenSize, E> {
                Ok(ScreenSize(value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ScreenSize, E> {
                Ok(ScreenSize(value.to_string()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ScreenSize, E> {
                Ok(ScreenSize(value.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_session_updates_only_the_fields_it_sends() {
        let stored = Profile {
            name: Some("Asha".into()),
            level: Some(3),
            ..Profile::default()
        };
        let update = Profile {
            level: Some(4),
            os_name: Some("Android".into()),
            app_version: Some("2.1".into()),
            ..Profile::default()
        };
        let merged = stored.merged(&update);
        assert_eq!(merged.name.as_deref(), Some("Asha"));
        assert_eq!(merged.level, Some(4));
        assert_eq!(merged.os_name.as_deref(), Some("Android"));
        assert_eq!(merged.app_version.as_deref(), Some("2.1"));
    }

    #[test]
    fn a_screen_size_reads_a_number_as_its_text_and_is_stored_as_text() {
        let profile: Profile =
            serde_json::from_str(r#"{"screen_height": 1920, "screen_width": "1080"}"#).unwrap();
        assert_eq!(profile.screen_height, Some(ScreenSize("1920".into())));
        assert_eq!(profile.screen_width, Some(ScreenSize("1080".into())));
        let stored = profile.to_json();
        assert!(stored.contains(r#""screen_height":"1920""#), "{stored}");
        assert_eq!(Profile::from_json(&stored), profile);
    }
}
