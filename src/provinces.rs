//! Province codes (ISO 3166-2) accepted for centers and destinations:
//! Armenia's eleven, plus any configured extras.

/// Armenia's provinces (marzer) and Yerevan, by ISO 3166-2 code.
pub const ARMENIA: [(&str, &str); 11] = [
    ("AM-AG", "Aragatsotn"),
    ("AM-AR", "Ararat"),
    ("AM-AV", "Armavir"),
    ("AM-ER", "Yerevan"),
    ("AM-GR", "Gegharkunik"),
    ("AM-KT", "Kotayk"),
    ("AM-LO", "Lori"),
    ("AM-SH", "Shirak"),
    ("AM-SU", "Syunik"),
    ("AM-TV", "Tavush"),
    ("AM-VD", "Vayots Dzor"),
];

/// The English name of one of Armenia's provinces; `None` for other codes.
pub fn name(code: &str) -> Option<&'static str> {
    ARMENIA
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The accepted province codes.
#[derive(Debug, Clone)]
pub struct Provinces {
    extra: Vec<String>,
}

impl Provinces {
    /// Accepts Armenia's codes plus `extra`, which must look like ISO 3166-2 codes.
    pub fn new(extra: &[String]) -> Result<Provinces, String> {
        for code in extra {
            if !looks_like_iso_3166_2(code) {
                return Err(format!(
                    "provinces.extra: {code:?} is not an ISO 3166-2 code (like AM-SU)"
                ));
            }
        }
        Ok(Provinces {
            extra: extra.to_vec(),
        })
    }

    pub fn contains(&self, code: &str) -> bool {
        ARMENIA.iter().any(|(c, _)| *c == code) || self.extra.iter().any(|c| c == code)
    }

    /// A sentence listing what is accepted, for validation messages.
    pub fn expected(&self) -> String {
        let mut codes: Vec<&str> = ARMENIA.iter().map(|(c, _)| *c).collect();
        codes.extend(self.extra.iter().map(String::as_str));
        format!("an ISO 3166-2 province code, one of {}", codes.join(", "))
    }
}

/// A province code in a query filter: well formed (ISO 3166-2), known or
/// not (an unknown one filters everything out). A malformed one is refused
/// where the query is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(pub String);

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Filter, D::Error> {
        let code = String::deserialize(deserializer)?;
        if looks_like_iso_3166_2(&code) {
            Ok(Filter(code))
        } else {
            Err(serde::de::Error::custom(
                "an ISO 3166-2 province code, e.g. AM-SU",
            ))
        }
    }
}

/// Two upper-case letters, a hyphen, then one to three upper-case letters or digits.
fn looks_like_iso_3166_2(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() >= 4
        && bytes.len() <= 6
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2] == b'-'
        && bytes[3..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armenian_codes_and_configured_extras_are_accepted() {
        let provinces = Provinces::new(&["GE-TB".to_string()]).unwrap();
        assert!(provinces.contains("AM-SU"));
        assert!(provinces.contains("GE-TB"));
        assert!(!provinces.contains("AM-XX"));
        assert!(!provinces.contains("am-su"));
    }

    #[test]
    fn malformed_extras_are_refused() {
        assert!(Provinces::new(&["Syunik".to_string()]).is_err());
    }
}
