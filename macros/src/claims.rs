//! `#[derive(Claims)]`: implement `mcp_auth::Claims` for a user's claims struct from
//! `#[claims(...)]` attributes on its fields.
//!
//! Three passes, as in serde_derive: parse the attributes into a model, validate the model,
//! render. Errors are collected on the way and reported together, each on the user's own tokens.
//! The impl is always emitted, with an unreachable body for every method whose field is missing
//! or wrong, so one mistake gives one error and not a cascade of "`Foo: Claims` is not satisfied".
//!
//! Field types are checked twice over. A type whose shape shows it cannot fit (`Option<u64>` as
//! the expiry, `u64` as the subject) is an error of the macro, worded for the case. Any other
//! type is read through a helper trait implemented for exactly the accepted types, named in a
//! qualified path built from the user's type tokens: a type alias of an accepted type works, and
//! any other type fails to compile with the helper's `#[diagnostic::on_unimplemented]` message,
//! underlined on the field's type.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Fields, GenericArgument, GenericParam, Ident, LitStr,
    PathArguments, Token, Type,
};

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.into_compile_error(),
    };
    let mut errors = Errors::default();
    let model = parse(&input, &mut errors);
    validate(&input, &model, &mut errors);
    let errors = errors.into_compile_errors();
    let claims_impl = render(&input, &model);
    quote! {
        #errors
        #claims_impl
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: collected, then combined into one `compile_error!` per message.

#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn into_compile_errors(self) -> TokenStream {
        self.0
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Model and parsing

/// The claim a field holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Subject,
    ExpiresAt,
    NotBefore,
    IssuedAt,
    Scopes(ScopeFormat),
}

/// How a scopes field is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeFormat {
    /// `#[claims(scopes)]`: from the field's type, `String` or `Vec<String>` (or an `Option`).
    FromType,
    /// `#[claims(scopes = "space_delimited")]`: a string like OAuth's `scope`.
    SpaceDelimited,
    /// `#[claims(scopes = "list")]`: an array like `scp`.
    List,
}

impl Role {
    /// The role as the user writes it inside `#[claims(...)]`.
    fn key(self) -> &'static str {
        match self {
            Role::Subject => "subject",
            Role::ExpiresAt => "expires_at",
            Role::NotBefore => "not_before",
            Role::IssuedAt => "issued_at",
            Role::Scopes(ScopeFormat::FromType) => "scopes",
            Role::Scopes(ScopeFormat::SpaceDelimited) => "scopes = \"space_delimited\"",
            Role::Scopes(ScopeFormat::List) => "scopes = \"list\"",
        }
    }

    /// The registered JWT claim the field usually holds.
    fn claim(self) -> &'static str {
        match self {
            Role::Subject => "`sub`",
            Role::ExpiresAt => "`exp`",
            Role::NotBefore => "`nbf`",
            Role::IssuedAt => "`iat`",
            Role::Scopes(_) => "`scope` or `scp`",
        }
    }

    /// The types the role accepts, as patterns for [`Shape::fits`] and as words for messages.
    fn accepts(self) -> (&'static [Pattern], &'static str) {
        const STRING: Pattern = Pattern::String;
        const U64: Pattern = Pattern::U64;
        const LIST: Pattern = Pattern::Vec(&Pattern::String);
        const OPTION_STRING: Pattern = Pattern::Option(&Pattern::String);
        const OPTION_U64: Pattern = Pattern::Option(&Pattern::U64);
        const OPTION_LIST: Pattern = Pattern::Option(&LIST);
        match self {
            Role::Subject => (&[STRING], "a `String` field"),
            Role::ExpiresAt => (&[U64], "a `u64` field"),
            Role::NotBefore | Role::IssuedAt => {
                (&[U64, OPTION_U64], "a `u64` or `Option<u64>` field")
            }
            Role::Scopes(ScopeFormat::FromType) => (
                &[STRING, LIST, OPTION_STRING, OPTION_LIST],
                "a `String` (space-delimited) or `Vec<String>` field, or an `Option` of either",
            ),
            Role::Scopes(ScopeFormat::SpaceDelimited) => (
                &[STRING, OPTION_STRING],
                "a `String` or `Option<String>` field",
            ),
            Role::Scopes(ScopeFormat::List) => (
                &[LIST, OPTION_LIST],
                "a `Vec<String>` or `Option<Vec<String>>` field",
            ),
        }
    }
}

/// A field marked with a role.
struct Marked<'a> {
    field: &'a Ident,
    ty: &'a Type,
    role: Role,
    /// The role's key in the attribute, where errors about the marking point.
    key: Span,
}

#[derive(Default)]
struct Model<'a> {
    marked: Vec<Marked<'a>>,
    /// `#[claims(no_scopes)]` on the struct.
    no_scopes: Option<Span>,
    /// A `#[claims(...)]` attribute had an error of its own. What the struct lacks is then not
    /// reported: the broken attribute may be the missing role, and one mistake gets one error.
    broken_attr: bool,
    /// The struct has named fields; otherwise an error was reported and nothing is marked.
    is_named_struct: bool,
}

impl Model<'_> {
    fn first(&self, want: impl Fn(Role) -> bool) -> Option<&Marked<'_>> {
        self.marked.iter().find(|m| want(m.role))
    }
}

const FIELD_KEY_NAMES: [&str; 5] = ["subject", "expires_at", "not_before", "issued_at", "scopes"];
const FIELD_KEYS: &str = "`subject`, `expires_at`, `not_before`, `issued_at` or `scopes`";

fn parse<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Model<'a> {
    let mut model = Model::default();
    let name = &input.ident;
    let shape_error = |what: &str| {
        format!(
            "`#[derive(Claims)]` needs a struct with named fields, because a token's claims are \
             a JSON object; `{name}` is {what}"
        )
    };
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => Some(fields),
            Fields::Unnamed(fields) => {
                errors.at(fields.span(), shape_error("a tuple struct"));
                None
            }
            Fields::Unit => {
                errors.at(name.span(), shape_error("a unit struct"));
                None
            }
        },
        Data::Enum(data) => {
            errors.at(data.enum_token.span, shape_error("an enum"));
            None
        }
        Data::Union(data) => {
            errors.at(data.union_token.span, shape_error("a union"));
            None
        }
    };

    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.at(
                lifetime.lifetime.span(),
                format!(
                    "claims cannot borrow: a token's claims are deserialized into owned data \
                     (`DeserializeOwned`), so remove the lifetime `{}` from `{name}`",
                    lifetime.lifetime
                ),
            );
        }
    }

    for attr in claims_attrs(&input.attrs) {
        if let Err(error) = parse_struct_attr(attr, &mut model) {
            errors.push(error);
            model.broken_attr = true;
        }
    }

    let Some(fields) = fields else {
        return model;
    };
    model.is_named_struct = true;
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let mut role: Option<(Role, Span)> = None;
        for attr in claims_attrs(&field.attrs) {
            if let Err(error) = parse_field_attr(attr, ident, &mut role, errors) {
                errors.push(error);
                model.broken_attr = true;
            }
        }
        if let Some((role, key)) = role {
            model.marked.push(Marked {
                field: ident,
                ty: &field.ty,
                role,
                key,
            });
        }
    }
    model
}

fn claims_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("claims"))
}

fn parse_struct_attr(attr: &Attribute, model: &mut Model<'_>) -> syn::Result<()> {
    let mut empty = true;
    attr.parse_nested_meta(|meta| {
        empty = false;
        let key = meta.path.span();
        if meta.path.is_ident("no_scopes") {
            no_value(&meta, "no_scopes")?;
            if model.no_scopes.replace(key).is_some() {
                return Err(meta.error("`no_scopes` is given twice"));
            }
        } else if let Some(role) = field_key(&meta.path) {
            return Err(meta.error(format!(
                "`{role}` marks a field, not the struct; put `#[claims({role})]` on the field \
                 that holds the claim"
            )));
        } else {
            let written = path_text(&meta.path);
            return Err(meta.error(format!(
                "unknown `claims` key `{written}`; the struct takes `no_scopes`, and its fields \
                 take {FIELD_KEYS}{}",
                did_you_mean(&written, &["no_scopes"])
            )));
        }
        Ok(())
    })?;
    if empty {
        return Err(syn::Error::new_spanned(
            attr,
            "`#[claims()]` is empty; on the struct it takes `no_scopes`",
        ));
    }
    Ok(())
}

/// The name of a field role, if `path` is one.
fn field_key(path: &syn::Path) -> Option<&'static str> {
    FIELD_KEY_NAMES.into_iter().find(|key| path.is_ident(key))
}

fn parse_field_attr(
    attr: &Attribute,
    field: &Ident,
    role: &mut Option<(Role, Span)>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let mut empty = true;
    attr.parse_nested_meta(|meta| {
        empty = false;
        let key = meta.path.span();
        let this = if meta.path.is_ident("subject") {
            no_value(&meta, "subject")?;
            Role::Subject
        } else if meta.path.is_ident("expires_at") {
            no_value(&meta, "expires_at")?;
            Role::ExpiresAt
        } else if meta.path.is_ident("not_before") {
            no_value(&meta, "not_before")?;
            Role::NotBefore
        } else if meta.path.is_ident("issued_at") {
            no_value(&meta, "issued_at")?;
            Role::IssuedAt
        } else if meta.path.is_ident("scopes") {
            Role::Scopes(scope_format(&meta)?)
        } else if meta.path.is_ident("no_scopes") {
            return Err(meta.error(
                "`no_scopes` goes on the struct, not on a field: `#[claims(no_scopes)]` above \
                 `struct`",
            ));
        } else {
            let written = path_text(&meta.path);
            return Err(meta.error(format!(
                "unknown `claims` key `{written}`; a field takes {FIELD_KEYS}{}",
                did_you_mean(&written, &FIELD_KEY_NAMES)
            )));
        };
        match role {
            Some((first, _)) => errors.at(
                key,
                format!(
                    "field `{}` is already marked `{}`; a field holds one claim",
                    field.unraw(),
                    first.key()
                ),
            ),
            None => *role = Some((this, key)),
        }
        Ok(())
    })?;
    if empty {
        return Err(syn::Error::new_spanned(
            attr,
            format!("`#[claims()]` is empty; a field takes {FIELD_KEYS}"),
        ));
    }
    Ok(())
}

fn no_value(meta: &syn::meta::ParseNestedMeta<'_>, key: &str) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format!("`{key}` takes no value: write `#[claims({key})]`")))
    }
}

fn scope_format(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<ScopeFormat> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(ScopeFormat::FromType);
    }
    let expected = "expected `scopes`, `scopes = \"space_delimited\"` or `scopes = \"list\"`";
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(expected));
    }
    let value = meta.value()?;
    let Ok(format) = value.parse::<LitStr>() else {
        return Err(value.error(expected));
    };
    match format.value().as_str() {
        "space_delimited" => Ok(ScopeFormat::SpaceDelimited),
        "list" => Ok(ScopeFormat::List),
        other => Err(syn::Error::new(
            format.span(),
            format!(
                "unknown scopes format `{}`; expected `\"space_delimited\"` (one string, like \
                 OAuth `scope`) or `\"list\"` (an array of strings, like `scp`)",
                other.escape_debug()
            ),
        )),
    }
}

/// `; did you mean `expires_at`?` when `written` is at most two edits from one of `keys`, or
/// begins one.
fn did_you_mean(written: &str, keys: &[&'static str]) -> String {
    keys.iter()
        .map(|key| (edit_distance(written, key), *key))
        .filter(|(distance, key)| *distance <= 2 || key.starts_with(written))
        .min()
        .map(|(_, key)| format!("; did you mean `{key}`?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

// ---------------------------------------------------------------------------------------------
// Validation: every problem at once, each on its own tokens.

fn validate(input: &DeriveInput, model: &Model<'_>, errors: &mut Errors) {
    if !model.is_named_struct {
        return;
    }
    let name = &input.ident;

    for single in [
        Role::Subject,
        Role::ExpiresAt,
        Role::NotBefore,
        Role::IssuedAt,
    ] {
        let mut marked = model.marked.iter().filter(|m| m.role == single);
        let Some(first) = marked.next() else { continue };
        for again in marked {
            errors.at(
                again.key,
                format!(
                    "`#[claims({key})]` is on two fields, `{}` and `{}`; mark only the one that \
                     holds {claim}",
                    first.field.unraw(),
                    again.field.unraw(),
                    key = single.key(),
                    claim = single.claim(),
                ),
            );
        }
    }

    for marked in &model.marked {
        if let Some(message) = type_mismatch(marked) {
            errors.push(syn::Error::new_spanned(marked.ty, message));
        }
    }

    if model.broken_attr {
        return;
    }
    if model.first(|r| r == Role::Subject).is_none() {
        errors.at(
            name.span(),
            format!(
                "claims struct `{name}` has no subject; mark the `String` field that holds `sub` \
                 with `#[claims(subject)]`"
            ),
        );
    }
    if model.first(|r| r == Role::ExpiresAt).is_none() {
        errors.at(
            name.span(),
            format!(
                "claims struct `{name}` has no expiry; mark the `u64` field that holds `exp` with \
                 `#[claims(expires_at)]`"
            ),
        );
    }
    let scopes = model.first(|r| matches!(r, Role::Scopes(_)));
    match (scopes, model.no_scopes) {
        (None, None) => errors.at(
            name.span(),
            format!(
                "claims struct `{name}` has no scopes field; mark the field that holds the \
                 token's scopes (`scope` or `scp`) with `#[claims(scopes)]`, or put \
                 `#[claims(no_scopes)]` on the struct if its tokens carry none"
            ),
        ),
        (Some(field), Some(no_scopes)) => errors.at(
            no_scopes,
            format!(
                "`no_scopes` says the tokens carry no scopes, but field `{}` is marked \
                 `#[claims({})]`; remove one of them",
                field.field.unraw(),
                field.role.key()
            ),
        ),
        _ => {}
    }
}

/// The message for a field whose type visibly does not fit its role; `None` when it fits or
/// when only the compiler can tell (a type alias, a path the macro does not know).
fn type_mismatch(marked: &Marked<'_>) -> Option<String> {
    let shape = Shape::of(marked.ty);
    let (patterns, words) = marked.role.accepts();
    let mut verdict = Some(false);
    for pattern in patterns {
        match shape.fits(pattern) {
            Some(true) => return None,
            Some(false) => {}
            None => verdict = None,
        }
    }
    verdict?;
    let role = marked.role;
    let written = type_text(marked.ty);
    let mut message = format!("`#[claims({})]` needs {words}, not `{written}`", role.key());
    let why = match (role, &shape) {
        (Role::Subject, Shape::Option(_)) => {
            "; a token without `sub` is rejected, so the subject is not optional"
        }
        (Role::ExpiresAt, Shape::Option(_)) => {
            "; a token without `exp` is rejected, so the expiry is not optional"
        }
        (Role::Scopes(ScopeFormat::SpaceDelimited), shape) if shape.is_list_like() => {
            "; an array of scopes is `#[claims(scopes = \"list\")]`"
        }
        (Role::Scopes(ScopeFormat::List), shape) if shape.is_string_like() => {
            "; a space-delimited string is `#[claims(scopes = \"space_delimited\")]`"
        }
        _ => "",
    };
    message.push_str(why);
    Some(message)
}

/// What the tokens of a type show about it.
enum Shape {
    /// `String`, by any path.
    String,
    /// `u64`.
    U64,
    /// `Option<T>`, by any path.
    Option(Box<Shape>),
    /// `Vec<T>`, by any path.
    Vec(Box<Shape>),
    /// Certainly none of the above: a reference, tuple, array, or another primitive.
    Other,
    /// A path the macro cannot see through, like a type alias.
    Unknown,
}

/// A type a role accepts.
enum Pattern {
    String,
    U64,
    Option(&'static Pattern),
    Vec(&'static Pattern),
}

impl Shape {
    fn of(ty: &Type) -> Shape {
        match ty {
            Type::Group(group) => Shape::of(&group.elem),
            Type::Paren(paren) => Shape::of(&paren.elem),
            Type::Path(path) if path.qself.is_none() => {
                let Some(last) = path.path.segments.last() else {
                    return Shape::Unknown;
                };
                let single = path.path.segments.len() == 1 && path.path.leading_colon.is_none();
                let name = last.ident.to_string();
                match (&last.arguments, name.as_str()) {
                    (PathArguments::None, "String") => Shape::String,
                    (PathArguments::None, "u64") if single => Shape::U64,
                    (
                        PathArguments::None,
                        "u8" | "u16" | "u32" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64"
                        | "i128" | "isize" | "f32" | "f64" | "bool" | "char" | "str",
                    ) if single => Shape::Other,
                    (PathArguments::AngleBracketed(args), "Option" | "Vec") => {
                        let inner = args
                            .args
                            .iter()
                            .find_map(|arg| match arg {
                                GenericArgument::Type(ty) => Some(Shape::of(ty)),
                                _ => None,
                            })
                            .unwrap_or(Shape::Unknown);
                        if name == "Option" {
                            Shape::Option(Box::new(inner))
                        } else {
                            Shape::Vec(Box::new(inner))
                        }
                    }
                    _ => Shape::Unknown,
                }
            }
            Type::Reference(_)
            | Type::Tuple(_)
            | Type::Array(_)
            | Type::Slice(_)
            | Type::Ptr(_)
            | Type::BareFn(_)
            | Type::Never(_)
            | Type::TraitObject(_)
            | Type::ImplTrait(_) => Shape::Other,
            _ => Shape::Unknown,
        }
    }

    /// Whether a type of this shape is `pattern`: `None` when the tokens cannot tell.
    fn fits(&self, pattern: &Pattern) -> Option<bool> {
        match (self, pattern) {
            (Shape::Unknown, _) => None,
            (Shape::String, Pattern::String) | (Shape::U64, Pattern::U64) => Some(true),
            (Shape::Option(inner), Pattern::Option(want))
            | (Shape::Vec(inner), Pattern::Vec(want)) => inner.fits(want),
            _ => Some(false),
        }
    }

    /// `String` or `Option<String>`.
    fn is_string_like(&self) -> bool {
        match self {
            Shape::String => true,
            Shape::Option(inner) => matches!(**inner, Shape::String),
            _ => false,
        }
    }

    /// `Vec<_>` or `Option<Vec<_>>`.
    fn is_list_like(&self) -> bool {
        match self {
            Shape::Vec(_) => true,
            Shape::Option(inner) => matches!(**inner, Shape::Vec(_)),
            _ => false,
        }
    }
}

/// A type as a user would write it: `Option<u64>`, not `Option < u64 >`.
fn type_text(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ::", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(from, to);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn render(input: &DeriveInput, model: &Model<'_>) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // Generic claims hold only when the parameters make the struct deserializable and shareable;
    // the trait's supertraits say so, and the impl must repeat them as bounds.
    let mut where_clause = where_clause.cloned();
    if !input.generics.params.is_empty() {
        where_clause
            .get_or_insert_with(|| syn::parse_quote!(where))
            .predicates
            .push(syn::parse_quote!(
                Self: ::serde::de::DeserializeOwned
                    + ::core::marker::Send
                    + ::core::marker::Sync
                    + 'static
            ));
    }

    // A marked field whose type visibly does not fit already has its error; reading it through a
    // helper would add a second one.
    let usable = |want: &dyn Fn(Role) -> bool| -> Vec<&Marked<'_>> {
        model
            .marked
            .iter()
            .filter(|m| want(m.role) && type_mismatch(m).is_none())
            .collect()
    };
    let single = |role: Role| usable(&|r| r == role).into_iter().next();
    let mut helpers = Helpers::default();
    let unreachable = quote!(::core::unreachable!(
        "`#[derive(Claims)]` reported an error for this impl"
    ));

    let subject = match single(Role::Subject) {
        Some(m) => helpers.read(m),
        None => unreachable.clone(),
    };
    let expires_at = match single(Role::ExpiresAt) {
        Some(m) => helpers.read(m),
        None => unreachable.clone(),
    };
    let not_before = single(Role::NotBefore).map(|m| {
        let read = helpers.read(m);
        quote! {
            fn not_before(&self) -> ::core::option::Option<u64> {
                #read
            }
        }
    });
    let issued_at = single(Role::IssuedAt).map(|m| {
        let read = helpers.read(m);
        quote! {
            fn issued_at(&self) -> ::core::option::Option<u64> {
                #read
            }
        }
    });
    let scopes: Vec<TokenStream> = usable(&|r| matches!(r, Role::Scopes(_)))
        .into_iter()
        .map(|m| helpers.read(m))
        .collect();
    let has_scope = if scopes.is_empty() {
        quote! {
            fn has_scope(&self, _scope: &str) -> bool {
                false
            }
        }
    } else {
        // A scope-token is never empty and never holds the delimiter (RFC 6749 §3.3).
        quote! {
            fn has_scope(&self, scope: &str) -> bool {
                !scope.is_empty() && !scope.contains(' ') && (#(#scopes)||*)
            }
        }
    };
    let helpers = helpers.tokens;

    quote! {
        const _: () = {
            #(#helpers)*

            #[automatically_derived]
            impl #impl_generics ::mcp_auth::Claims for #name #ty_generics #where_clause {
                fn subject(&self) -> &str {
                    #subject
                }

                #has_scope

                fn expires_at(&self) -> u64 {
                    #expires_at
                }

                #not_before
                #issued_at
            }
        };
    }
}

/// The helper traits an expansion needs, each emitted once, and the reads through them.
#[derive(Default)]
struct Helpers {
    emitted: Vec<&'static str>,
    tokens: Vec<TokenStream>,
}

impl Helpers {
    /// The expression that reads `marked` for its role, through the role's helper trait named
    /// with the field's own type tokens, so a type that does not fit fails on the field's type.
    fn read(&mut self, marked: &Marked<'_>) -> TokenStream {
        let (helper, method) = self.helper(marked.role);
        let ty = marked.ty;
        let field = marked.field;
        let args = match marked.role {
            Role::Scopes(_) => quote!(&self.#field, scope),
            _ => quote!(&self.#field),
        };
        quote_spanned! {ty.span()=>
            <#ty as #helper>::#method(#args)
        }
    }

    fn helper(&mut self, role: Role) -> (Ident, Ident) {
        let span = Span::call_site();
        let (name, method) = match role {
            Role::Subject => ("__McpAuthSubject", "subject"),
            Role::ExpiresAt => ("__McpAuthExpiresAt", "expires_at"),
            Role::NotBefore => ("__McpAuthNotBefore", "not_before"),
            Role::IssuedAt => ("__McpAuthIssuedAt", "issued_at"),
            Role::Scopes(ScopeFormat::FromType) => ("__McpAuthScopes", "grants"),
            Role::Scopes(ScopeFormat::SpaceDelimited) => ("__McpAuthSpaceDelimited", "grants"),
            Role::Scopes(ScopeFormat::List) => ("__McpAuthScopeList", "grants"),
        };
        let helper = Ident::new(name, span);
        let method = Ident::new(method, span);
        if !self.emitted.contains(&name) {
            self.emitted.push(name);
            self.tokens.push(helper_trait(role, &helper, &method));
        }
        (helper, method)
    }
}

fn helper_trait(role: Role, helper: &Ident, method: &Ident) -> TokenStream {
    let (_, words) = role.accepts();
    let message = LitStr::new(
        &format!("`#[claims({})]` needs {words}, not `{{Self}}`", role.key()),
        Span::call_site(),
    );
    let label = LitStr::new(
        &format!("the field that holds {}", role.claim()),
        Span::call_site(),
    );
    let string = quote!(::std::string::String);
    let list = quote!(::std::vec::Vec<::std::string::String>);
    // Split on the single space of RFC 6749 §3.3; runs of spaces leave empty pieces, which never
    // equal a scope because `has_scope` refuses an empty scope before it reads a field.
    let space_delimited = quote! {
        fn #method(&self, scope: &str) -> bool {
            ::core::iter::Iterator::any(&mut self.split(' '), |granted| granted == scope)
        }
    };
    let listed = quote! {
        fn #method(&self, scope: &str) -> bool {
            ::core::iter::Iterator::any(&mut self.iter(), |granted| granted == scope)
        }
    };
    let optional = quote! {
        fn #method(&self, scope: &str) -> bool {
            self.as_ref().is_some_and(|granted| #helper::#method(granted, scope))
        }
    };
    let (signature, impls) = match role {
        Role::Subject => (
            quote!(fn #method(&self) -> &str;),
            quote! {
                impl #helper for #string {
                    fn #method(&self) -> &str {
                        self
                    }
                }
            },
        ),
        Role::ExpiresAt => (
            quote!(fn #method(&self) -> u64;),
            quote! {
                impl #helper for u64 {
                    fn #method(&self) -> u64 {
                        *self
                    }
                }
            },
        ),
        Role::NotBefore | Role::IssuedAt => (
            quote!(fn #method(&self) -> ::core::option::Option<u64>;),
            quote! {
                impl #helper for u64 {
                    fn #method(&self) -> ::core::option::Option<u64> {
                        ::core::option::Option::Some(*self)
                    }
                }
                impl #helper for ::core::option::Option<u64> {
                    fn #method(&self) -> ::core::option::Option<u64> {
                        *self
                    }
                }
            },
        ),
        Role::Scopes(format) => {
            let strings = quote! {
                impl #helper for #string { #space_delimited }
                impl #helper for ::core::option::Option<#string> { #optional }
            };
            let lists = quote! {
                impl #helper for #list { #listed }
                impl #helper for ::core::option::Option<#list> { #optional }
            };
            let impls = match format {
                ScopeFormat::FromType => quote!(#strings #lists),
                ScopeFormat::SpaceDelimited => strings,
                ScopeFormat::List => lists,
            };
            (quote!(fn #method(&self, scope: &str) -> bool;), impls)
        }
    };
    let note = match role {
        Role::Scopes(_) => Some(
            quote!(, note = "for scopes in another type, implement `mcp_auth::Claims` by hand"),
        ),
        _ => None,
    };
    quote! {
        #[diagnostic::on_unimplemented(message = #message, label = #label #note)]
        trait #helper {
            #signature
        }
        #impls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(role: Role, ty: &str) -> Option<String> {
        let ty: Type = syn::parse_str(ty).unwrap();
        let field = Ident::new("field", Span::call_site());
        type_mismatch(&Marked {
            field: &field,
            ty: &ty,
            role,
            key: Span::call_site(),
        })
    }

    #[test]
    fn visibly_wrong_types_are_reported_and_unknown_ones_left_to_the_compiler() {
        let list = Role::Scopes(ScopeFormat::List);
        let from_type = Role::Scopes(ScopeFormat::FromType);
        for (role, fits) in [
            (Role::Subject, "String"),
            (Role::Subject, "::std::string::String"),
            (Role::ExpiresAt, "u64"),
            (Role::IssuedAt, "Option<u64>"),
            (Role::NotBefore, "core::option::Option<u64>"),
            (from_type, "Option<Vec<String>>"),
            (list, "Vec<String>"),
        ] {
            assert_eq!(mismatch(role, fits), None, "{fits}");
        }
        for (role, unknown) in [
            (Role::Subject, "Subject"),
            (Role::ExpiresAt, "Seconds"),
            (Role::ExpiresAt, "std::primitive::u64"),
            (Role::IssuedAt, "Option<Seconds>"),
            (from_type, "HashSet<String>"),
            (list, "Vec<Scope>"),
        ] {
            assert_eq!(mismatch(role, unknown), None, "{unknown}");
        }
        for (role, wrong, message) in [
            (
                Role::Subject,
                "& 'static str",
                "`#[claims(subject)]` needs a `String` field, not `&'static str`",
            ),
            (
                Role::ExpiresAt,
                "Option<Seconds>",
                "`#[claims(expires_at)]` needs a `u64` field, not `Option<Seconds>`; a token \
                 without `exp` is rejected, so the expiry is not optional",
            ),
            (
                Role::IssuedAt,
                "Option<i64>",
                "`#[claims(issued_at)]` needs a `u64` or `Option<u64>` field, not `Option<i64>`",
            ),
            (
                Role::Scopes(ScopeFormat::SpaceDelimited),
                "Option<Vec<Scope>>",
                "`#[claims(scopes = \"space_delimited\")]` needs a `String` or `Option<String>` \
                 field, not `Option<Vec<Scope>>`; an array of scopes is \
                 `#[claims(scopes = \"list\")]`",
            ),
            (
                from_type,
                "(String, String)",
                "`#[claims(scopes)]` needs a `String` (space-delimited) or `Vec<String>` field, \
                 or an `Option` of either, not `(String, String)`",
            ),
        ] {
            assert_eq!(mismatch(role, wrong).as_deref(), Some(message), "{wrong}");
        }
    }

    #[test]
    fn close_keys_are_suggested() {
        assert_eq!(
            did_you_mean("expires", &FIELD_KEY_NAMES),
            "; did you mean `expires_at`?"
        );
        assert_eq!(
            did_you_mean("scope", &FIELD_KEY_NAMES),
            "; did you mean `scopes`?"
        );
        assert_eq!(
            did_you_mean("subjet", &FIELD_KEY_NAMES),
            "; did you mean `subject`?"
        );
        assert_eq!(did_you_mean("tenant", &FIELD_KEY_NAMES), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
