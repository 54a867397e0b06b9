//! Identifiers as the wire and the generated code spell them.

use proc_macro2::Ident;

/// The identifier without its `r#` prefix (`r#type` is `type` on the wire).
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}
