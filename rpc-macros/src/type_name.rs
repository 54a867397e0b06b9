//! Readable type names for metadata: `Vec<String>`, not `Vec < String >`.

use quote::ToTokens;
use syn::Type;

/// The type as written, without the spaces token printing adds.
pub fn type_name(ty: &Type) -> String {
    tidy(&ty.to_token_stream().to_string())
}

/// Removes token-printing spaces around punctuation; keeps the ones that
/// separate words (`dyn Trait`, `& 'a mut T` becomes `&'a mut T`).
pub fn tidy(printed: &str) -> String {
    let mut out = String::with_capacity(printed.len());
    let chars: Vec<char> = printed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.get(i + 1).copied();
            let word = |ch: Option<char>| ch.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '\'');
            if word(prev) && word(next) || prev == Some(',') {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidies_printed_types() {
        let cases = [
            ("Vec < String >", "Vec<String>"),
            (
                "std :: collections :: HashMap < String , Vec < u8 > >",
                "std::collections::HashMap<String, Vec<u8>>",
            ),
            ("(i64 , bool)", "(i64, bool)"),
            ("[u8 ; 4]", "[u8;4]"),
            ("Option < crate :: model :: User >", "Option<crate::model::User>"),
        ];
        for (printed, want) in cases {
            assert_eq!(tidy(printed), want);
        }
    }

    #[test]
    fn names_real_types() {
        let ty: Type = syn::parse_quote!(Result<Vec<(u8, String)>, E>);
        assert_eq!(type_name(&ty), "Result<Vec<(u8, String)>, E>");
    }
}
