//! One source for the names of the monitor's enums: strum derives each name from its variant
//! (snake_case), `name()`, `Display`, parsing and serde all go through it, and a name that is
//! not one of them is refused with the list of those that are.

use strum::VariantArray;

/// A name that is none of a type's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?}: use one of {expected}")]
pub struct UnknownName {
    /// What kind of name was asked for (signal, stop reason, metric).
    pub what: &'static str,
    /// The text that was given.
    pub found: String,
    /// The names that would have been accepted, comma-separated.
    pub expected: String,
}

/// Parses `text` as one of `T`'s names, or says which names exist.
pub fn parse<T>(text: &str, what: &'static str) -> Result<T, UnknownName>
where
    T: VariantArray + Copy + Into<&'static str>,
{
    T::VARIANTS
        .iter()
        .copied()
        .find(|v| (*v).into() == text)
        .ok_or_else(|| UnknownName {
            what,
            found: text.to_owned(),
            expected: T::VARIANTS
                .iter()
                .map(|v| -> &'static str { (*v).into() })
                .collect::<Vec<_>>()
                .join(", "),
        })
}
