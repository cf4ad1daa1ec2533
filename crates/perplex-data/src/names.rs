//! Names of the data crate's enums ([`Split`](crate::Split),
//! [`TokenizerKind`](crate::TokenizerKind)) come from one source: strum derives each from its
//! variant, and `name()`, `Display`, parsing and serde all go through it. A name that is none
//! of them is refused with the list of those that are.

use strum::VariantArray;

use crate::DataError;

/// Parses `text` as one of `T`'s names (`what` says what kind of name, for the message).
pub(crate) fn parse<T>(text: &str, what: &'static str) -> Result<T, DataError>
where
    T: VariantArray + Copy + Into<&'static str>,
{
    let name = |v: &T| -> &'static str { (*v).into() };
    T::VARIANTS
        .iter()
        .find(|v| name(v) == text)
        .copied()
        .ok_or_else(|| DataError::UnknownName {
            what,
            found: text.to_owned(),
            expected: T::VARIANTS.iter().map(name).collect::<Vec<_>>().join(", "),
        })
}

#[cfg(test)]
mod tests {
    use crate::{Split, TokenizerKind};

    #[test]
    fn files_and_flags_use_the_derived_names_and_an_unknown_one_lists_them() {
        assert_eq!(Split::Valid.file_name(), "ptb.valid.txt");
        assert_eq!(
            "wordlevel".parse::<TokenizerKind>().unwrap(),
            TokenizerKind::WordLevel
        );
        let json = serde_json::to_string(&[Split::Train, Split::Test]).unwrap();
        assert_eq!(json, r#"["train","test"]"#);
        let err = "validation".parse::<Split>().unwrap_err().to_string();
        assert_eq!(
            err,
            r#"unknown split "validation": use one of train, valid, test"#
        );
        let err = serde_json::from_str::<TokenizerKind>(r#""sentencepiece""#).unwrap_err();
        assert!(
            err.to_string().contains("use one of wordlevel, bpe, char"),
            "{err}"
        );
    }
}
