//! Methods without arguments and with many, requests and notifications.

use duplexrpc_core::{RpcApi, RpcError, rpc};

#[rpc]
pub trait Wide {
    async fn none(&self) -> Result<(), RpcError>;
    async fn unit_result(&self) -> Result<(), RpcError>;
    #[allow(clippy::too_many_arguments)]
    async fn twelve(
        &self,
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        e: i8,
        f: i16,
        g: i32,
        h: i64,
        i: f32,
        j: f64,
        k: bool,
        l: char,
    ) -> Result<String, RpcError>;
    #[notification]
    async fn nothing(&self);
    #[notification]
    async fn many(&self, a: String, b: Vec<u8>, c: Option<i64>, d: (u8, u8), e: [u16; 3]);
}

struct Impl;

impl Wide for Impl {
    async fn none(&self) -> Result<(), RpcError> {
        Ok(())
    }

    async fn unit_result(&self) -> Result<(), RpcError> {
        Ok(())
    }

    async fn twelve(
        &self,
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        e: i8,
        f: i16,
        g: i32,
        h: i64,
        i: f32,
        j: f64,
        k: bool,
        l: char,
    ) -> Result<String, RpcError> {
        Ok(format!("{a} {b} {c} {d} {e} {f} {g} {h} {i} {j} {k} {l}"))
    }

    async fn nothing(&self) {}

    async fn many(&self, _a: String, _b: Vec<u8>, _c: Option<i64>, _d: (u8, u8), _e: [u16; 3]) {}
}

fn main() {
    let methods = Impl.into_methods();
    let mut names: Vec<_> = methods.names().collect();
    names.sort();
    assert_eq!(names, ["many", "none", "nothing", "twelve", "unit_result"]);
    let twelve = &WideClient::META.methods[2];
    assert_eq!(twelve.params.len(), 12);
    assert_eq!(twelve.params[11].name, "l");
    assert_eq!(twelve.params[11].rust_type, "char");
}
