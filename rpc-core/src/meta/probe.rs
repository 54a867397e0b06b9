//! The autoref probe generated code uses to find a type's TypeScript form
//! without requiring `ts_rs::TS`: `(&&Probe::<T>::new()).ts_render()` picks
//! `ViaTs` when `T: TS` (and the `typescript` feature is on), else `NoTs`;
//! likewise `(&&Probe::<T>::new()).schema_render()` picks `ViaSchema` when
//! `T: schemars::JsonSchema` (and the `openrpc` feature is on), else `NoSchema`.
//!
//! What the probe finds ([`TsRender`], [`SchemaRender`]) is type-erased: plain
//! function pointers a generator calls, so the generators can live in another
//! crate (`duplexrpc-codegen`). Not public API for applications.
#![doc(hidden)]

use std::any::TypeId;
use std::marker::PhantomData;

/// What [`super::TypeInfo`] needs of a generator's entry points.
pub trait Render: Copy + 'static {
    /// `TsType` or `SchemaType`, for `Debug`.
    const NAME: &'static str;
    /// Identifies the Rust type.
    fn type_id(&self) -> TypeId;
}

/// The TypeScript generator's entry points for one type, made by ts-rs.
#[cfg(feature = "typescript")]
#[derive(Clone, Copy, Debug)]
pub struct TsRender {
    name: fn(&ts_rs::Config) -> String,
    ident: fn(&ts_rs::Config) -> String,
    decl: fn(&ts_rs::Config) -> String,
    docs: fn() -> Option<String>,
    is_named: fn() -> bool,
    dependencies: fn() -> Vec<TsRender>,
    generics: fn() -> Vec<TsRender>,
    is_option: bool,
    type_id: TypeId,
    decl_id: TypeId,
}

#[cfg(feature = "typescript")]
impl TsRender {
    /// The entry points of `T`.
    pub fn of<T: ts_rs::TS + ?Sized + 'static>() -> Self {
        TsRender {
            name: T::name,
            ident: T::ident,
            decl: T::decl,
            docs: T::docs,
            is_named: || T::output_path().is_some(),
            dependencies: erased::dependencies::<T>,
            generics: erased::generics::<T>,
            is_option: T::IS_OPTION,
            type_id: TypeId::of::<T>(),
            decl_id: TypeId::of::<T::WithoutGenerics>(),
        }
    }

    /// How the type is written where it is used (`TS::name`).
    pub fn name(&self, cfg: &ts_rs::Config) -> String {
        (self.name)(cfg)
    }

    /// The name it is declared under (`TS::ident`).
    pub fn ident(&self, cfg: &ts_rs::Config) -> String {
        (self.ident)(cfg)
    }

    /// Its declaration (`TS::decl`).
    pub fn decl(&self, cfg: &ts_rs::Config) -> String {
        (self.decl)(cfg)
    }

    /// Its doc comment, as a JSDoc comment (`TS::docs`).
    pub fn docs(&self) -> Option<String> {
        (self.docs)()
    }

    /// A named type (one with a declaration of its own).
    pub fn is_named(&self) -> bool {
        (self.is_named)()
    }

    /// Every type it uses (`TS::visit_dependencies`).
    pub fn dependencies(&self) -> Vec<TsRender> {
        (self.dependencies)()
    }

    /// Its type arguments (`TS::visit_generics`).
    pub fn generics(&self) -> Vec<TsRender> {
        (self.generics)()
    }

    /// `Option<_>`: may be omitted when params are sent by name.
    pub fn is_option(&self) -> bool {
        self.is_option
    }

    /// Identifies the declaration (the type without its generic arguments).
    pub fn decl_id(&self) -> TypeId {
        self.decl_id
    }
}

#[cfg(feature = "typescript")]
mod erased {
    use super::TsRender;

    struct Erase(Vec<TsRender>);

    impl ts_rs::TypeVisitor for Erase {
        fn visit<T: ts_rs::TS + 'static + ?Sized>(&mut self) {
            self.0.push(TsRender::of::<T>());
        }
    }

    pub(super) fn dependencies<T: ts_rs::TS + ?Sized + 'static>() -> Vec<TsRender> {
        let mut found = Erase(Vec::new());
        T::visit_dependencies(&mut found);
        found.0
    }

    pub(super) fn generics<T: ts_rs::TS + ?Sized + 'static>() -> Vec<TsRender> {
        let mut found = Erase(Vec::new());
        T::visit_generics(&mut found);
        found.0
    }
}

/// Never built without the `typescript` feature.
#[cfg(not(feature = "typescript"))]
#[derive(Clone, Copy, Debug)]
pub enum TsRender {}

impl Render for TsRender {
    const NAME: &'static str = "TsType";

    fn type_id(&self) -> TypeId {
        #[cfg(feature = "typescript")]
        return self.type_id;
        #[cfg(not(feature = "typescript"))]
        match *self {}
    }
}

/// The OpenRPC generator's entry points for one type, made by schemars.
#[cfg(feature = "openrpc")]
#[derive(Clone, Copy, Debug)]
pub struct SchemaRender {
    schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    type_id: TypeId,
}

#[cfg(feature = "openrpc")]
impl SchemaRender {
    /// The type's schema (a `$ref` for named types, whose definitions the
    /// generator collects).
    pub fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        (self.schema)(generator)
    }
}

/// Never built without the `openrpc` feature.
#[cfg(not(feature = "openrpc"))]
#[derive(Clone, Copy, Debug)]
pub enum SchemaRender {}

impl Render for SchemaRender {
    const NAME: &'static str = "SchemaType";

    fn type_id(&self) -> TypeId {
        #[cfg(feature = "openrpc")]
        return self.type_id;
        #[cfg(not(feature = "openrpc"))]
        match *self {}
    }
}

/// Carries the type under test.
#[derive(Debug)]
pub struct Probe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> Probe<T> {
    /// The probe for `T`.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T: ?Sized> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Found by auto-deref for every type: unknown.
pub trait NoTs {
    /// `None`.
    fn ts_render(&self) -> Option<TsRender> {
        None
    }
}

impl<T: ?Sized> NoTs for Probe<T> {}

/// Found first, on `&Probe<T>`, for types that implement `ts_rs::TS`.
#[cfg(feature = "typescript")]
pub trait ViaTs {
    /// The exporter's entry points for the type.
    fn ts_render(&self) -> Option<TsRender>;
}

#[cfg(feature = "typescript")]
impl<T: ts_rs::TS + ?Sized + 'static> ViaTs for &Probe<T> {
    fn ts_render(&self) -> Option<TsRender> {
        Some(TsRender::of::<T>())
    }
}

/// Without the `typescript` feature, nothing implements it.
#[cfg(not(feature = "typescript"))]
pub trait ViaTs {}

/// Found by auto-deref for every type: no schema.
pub trait NoSchema {
    /// `None`.
    fn schema_render(&self) -> Option<SchemaRender> {
        None
    }
}

impl<T: ?Sized> NoSchema for Probe<T> {}

/// Found first, on `&Probe<T>`, for types that implement `schemars::JsonSchema`.
#[cfg(feature = "openrpc")]
pub trait ViaSchema {
    /// The generator's entry points for the type.
    fn schema_render(&self) -> Option<SchemaRender>;
}

#[cfg(feature = "openrpc")]
impl<T: schemars::JsonSchema + ?Sized + 'static> ViaSchema for &Probe<T> {
    fn schema_render(&self) -> Option<SchemaRender> {
        Some(SchemaRender {
            schema: schemars::SchemaGenerator::subschema_for::<T>,
            type_id: TypeId::of::<T>(),
        })
    }
}

/// Without the `openrpc` feature, nothing implements it.
#[cfg(not(feature = "openrpc"))]
pub trait ViaSchema {}
