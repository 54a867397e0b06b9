//! Streaming methods: a request whose success type is `RpcStream<T>`.

use syn::{GenericArgument, PathArguments, Type};

/// `T` of `RpcStream<T>` (any path ending in `RpcStream` with one type
/// argument), if `ok_type` is a stream.
pub fn stream_item(ok_type: &Type) -> Option<&Type> {
    let Type::Path(p) = ok_type else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "RpcStream" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_streams() {
        let t: Type = syn::parse_quote!(duplexrpc_core::RpcStream<Tick>);
        assert!(stream_item(&t).is_some());
        let t: Type = syn::parse_quote!(RpcStream<Vec<u8>>);
        assert!(stream_item(&t).is_some());
        let t: Type = syn::parse_quote!(Vec<u8>);
        assert!(stream_item(&t).is_none());
        let t: Type = syn::parse_quote!(RpcStream);
        assert!(stream_item(&t).is_none());
    }
}
