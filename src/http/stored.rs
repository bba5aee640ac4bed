//! Values as the database keeps them: ids are UUID text and closed sets of
//! values (roles, kinds, statuses) are their API spelling. Reading one back
//! can only fail through a bug or a hand-edited row, so every such failure
//! is the same 500, whose cause is logged and never sent.
//!
//! - [`id`] reads a stored id.
//! - [`stored_enum!`](crate::stored_enum) declares an enum whose serde
//!   names, stored text and `as_str` are one list, so they cannot drift.

use uuid::Uuid;

use crate::error::ApiError;

/// Reads an id stored as text; a malformed one is a bug, hence a 500.
pub fn id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::internal(format!("malformed stored uuid {text:?}")))
}

/// What every [`stored_enum!`](crate::stored_enum) gives, for code generic
/// over such enums (a CSV reader taking any coded column, say).
pub trait StoredEnum: Sized + Copy + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// The spelling: stored, sent and shown.
    fn as_str(self) -> &'static str;
    /// The variant spelled `text`, if any (for text a client sent).
    fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == text)
    }
}

/// The 500 for stored text that names no variant of `kind`.
pub fn unknown(kind: &str, text: &str) -> ApiError {
    ApiError::internal(format!("unknown stored {kind} {text:?}"))
}

/// Declares an enum stored as text: each variant is written with its
/// spelling (`Female = "female"`), which is its serde name on the wire, its
/// text in the database and what `as_str` returns. It derives `Debug`,
/// `Clone`, `Copy`, `PartialEq`, `Eq`, `Serialize` and `Deserialize` (add
/// more with `#[derive(...)]` above it) and gets:
///
/// - `ALL`: every variant, in declaration order;
/// - `as_str(self) -> &'static str`: the spelling, to store or print;
/// - `parse(&str) -> Option<Self>`: the variant a client's text names;
/// - `from_stored(&str) -> Result<Self, ApiError>`: reads a stored value
///   (another text is a 500, see [`unknown`]);
/// - the same as the [`StoredEnum`] trait, for generic code.
#[macro_export]
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling: stored, sent and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant a client's text names, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Reads a stored spelling; any other text is a 500.
            pub fn from_stored(text: &str) -> Result<$name, $crate::error::ApiError> {
                $name::parse(text)
                    .ok_or_else(|| $crate::http::stored::unknown(stringify!($name), text))
            }
        }

        impl $crate::http::stored::StoredEnum for $name {
            const ALL: &'static [$name] = $name::ALL;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }

            fn parse(text: &str) -> Option<$name> {
                $name::parse(text)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::stored_enum! {
        enum Sample {
            One = "one",
            TwoWords = "two_words",
        }
    }

    #[test]
    fn serde_names_and_stored_text_are_the_same_list() {
        for value in Sample::ALL {
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::Value::from(value.as_str()));
            assert_eq!(Sample::from_stored(value.as_str()).unwrap(), *value);
        }
        assert!(Sample::from_stored("TwoWords").is_err());
        assert_eq!(Sample::parse("two_words"), Some(Sample::TwoWords));
        assert_eq!(Sample::parse("two"), None);
    }

    #[test]
    fn a_malformed_stored_id_is_an_error_not_a_panic() {
        assert!(super::id("not-a-uuid").is_err());
        assert!(super::id("0190a5f0-0000-7000-8000-000000000001").is_ok());
    }
}
