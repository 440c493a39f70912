//! Typed tool arguments in `service!`: the `arguments { .. }` block describing argument messages
//! field by field, the `args pkg.Msg as RustType` clause of a tool, and the `ToolCall` enum.
//!
//! ```text
//! tools {
//!     "echo": ["echo:say"] args fixtures.tools.EchoArgs as EchoArgs,
//! }
//! arguments {
//!     message fixtures.tools.EchoArgs {
//!         text: string = 1 required,
//!         mode: enum fixtures.tools.Mode = 2,
//!         tags: repeated string = 3,
//!         labels: map<string, int64> = 4,
//!         at: message google.protobuf.Timestamp = 5 oneof when,
//!         file_path: string = 6 json "path",
//!     }
//!     enum fixtures.tools.Mode { MODE_UNSPECIFIED = 0, MODE_FAST = 1 }
//! }
//! ```

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitInt, LitStr, Token, Type, braced};

use crate::ident;

mod kw {
    syn::custom_keyword!(message);
    syn::custom_keyword!(repeated);
    syn::custom_keyword!(map);
    syn::custom_keyword!(required);
    syn::custom_keyword!(oneof);
    syn::custom_keyword!(json);
}

/// A dotted proto name, e.g. `fixtures.tools.EchoArgs`.
#[derive(Clone)]
pub(crate) struct ProtoName {
    pub(crate) text: String,
    pub(crate) span: Span,
}

impl Parse for ProtoName {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let first = Ident::parse_any(input)?;
        // Errors underline the last component, the type's own name.
        let mut span = first.span();
        let mut parts = vec![first.unraw().to_string()];
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let part = Ident::parse_any(input)?;
            span = part.span();
            parts.push(part.unraw().to_string());
        }
        Ok(Self {
            text: parts.join("."),
            span,
        })
    }
}

/// `args pkg.Msg as RustType` on a tool.
pub(crate) struct ToolArgs {
    pub(crate) proto: ProtoName,
    pub(crate) rust: Type,
}

impl Parse for ToolArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let proto = input.parse()?;
        input.parse::<Token![as]>()?;
        let rust = input.parse()?;
        Ok(Self { proto, rust })
    }
}

/// The `arguments { .. }` block.
#[derive(Default)]
pub(crate) struct Arguments {
    items: Vec<Item>,
    /// Each item's position in `items` and whether it is a message, by proto name.
    index: HashMap<String, (usize, bool)>,
}

enum Item {
    Message {
        name: ProtoName,
        fields: Vec<Field>,
    },
    Enum {
        name: ProtoName,
        values: Vec<(Ident, LitInt)>,
    },
}

impl Item {
    fn name(&self) -> &ProtoName {
        match self {
            Item::Message { name, .. } | Item::Enum { name, .. } => name,
        }
    }
}

struct Field {
    name: Ident,
    repeated: bool,
    map_key: Option<Ident>,
    ty: FieldType,
    number: LitInt,
    required: bool,
    oneof: Option<Ident>,
    json: Option<LitStr>,
}

enum FieldType {
    Scalar(Ident),
    Enum(ProtoName),
    Message(ProtoName),
}

const SCALARS: &[(&str, &str)] = &[
    ("double", "Double"),
    ("float", "Float"),
    ("int32", "Int32"),
    ("int64", "Int64"),
    ("uint32", "Uint32"),
    ("uint64", "Uint64"),
    ("sint32", "Sint32"),
    ("sint64", "Sint64"),
    ("fixed32", "Fixed32"),
    ("fixed64", "Fixed64"),
    ("sfixed32", "Sfixed32"),
    ("sfixed64", "Sfixed64"),
    ("bool", "Bool"),
    ("string", "String"),
    ("bytes", "Bytes"),
];

/// The well-known types the runtime converts from their JSON forms.
const WELL_KNOWN: &[&str] = &[
    "Timestamp",
    "Duration",
    "FieldMask",
    "Struct",
    "Value",
    "ListValue",
    "Empty",
    "Any",
    "DoubleValue",
    "FloatValue",
    "Int64Value",
    "UInt64Value",
    "Int32Value",
    "UInt32Value",
    "BoolValue",
    "StringValue",
    "BytesValue",
];

fn well_known(name: &str) -> Option<&'static str> {
    let short = name.strip_prefix("google.protobuf.")?;
    WELL_KNOWN.iter().copied().find(|w| *w == short)
}

impl Parse for FieldType {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![enum]) {
            input.parse::<Token![enum]>()?;
            return Ok(FieldType::Enum(input.parse()?));
        }
        if input.peek(kw::message) {
            input.parse::<kw::message>()?;
            return Ok(FieldType::Message(input.parse()?));
        }
        let scalar = Ident::parse_any(input)?;
        if !SCALARS.iter().any(|(s, _)| scalar == s) {
            return Err(syn::Error::new(
                scalar.span(),
                format!(
                    "`{scalar}` is not a field type; write a scalar (`string`, `int64`, ..), \
                     `enum pkg.Enum` or `message pkg.Message`"
                ),
            ));
        }
        Ok(FieldType::Scalar(scalar))
    }
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = Ident::parse_any(input)?;
        input.parse::<Token![:]>()?;
        let mut repeated = false;
        let mut map_key = None;
        if input.peek(kw::repeated) {
            input.parse::<kw::repeated>()?;
            repeated = true;
        } else if input.peek(kw::map) && input.peek2(Token![<]) {
            input.parse::<kw::map>()?;
            input.parse::<Token![<]>()?;
            let key = Ident::parse_any(input)?;
            input.parse::<Token![,]>()?;
            map_key = Some(key);
        }
        let ty = input.parse()?;
        if map_key.is_some() {
            input.parse::<Token![>]>()?;
        }
        input.parse::<Token![=]>()?;
        let number = input.parse()?;
        let mut required = false;
        let mut oneof = None;
        let mut json = None;
        loop {
            if input.peek(kw::required) {
                input.parse::<kw::required>()?;
                required = true;
            } else if input.peek(kw::oneof) {
                input.parse::<kw::oneof>()?;
                oneof = Some(Ident::parse_any(input)?);
            } else if input.peek(kw::json) {
                input.parse::<kw::json>()?;
                json = Some(input.parse()?);
            } else {
                break;
            }
        }
        Ok(Field {
            name,
            repeated,
            map_key,
            ty,
            number,
            required,
            oneof,
            json,
        })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::message) {
            input.parse::<kw::message>()?;
            let name = input.parse()?;
            let body;
            braced!(body in input);
            let fields = Punctuated::<Field, Token![,]>::parse_terminated(&body)?
                .into_iter()
                .collect();
            Ok(Item::Message { name, fields })
        } else if lookahead.peek(Token![enum]) {
            input.parse::<Token![enum]>()?;
            let name = input.parse()?;
            let body;
            braced!(body in input);
            let values =
                Punctuated::<(Ident, LitInt), Token![,]>::parse_terminated_with(&body, |value| {
                    let name = Ident::parse_any(value)?;
                    value.parse::<Token![=]>()?;
                    Ok((name, value.parse()?))
                })?
                .into_iter()
                .collect();
            Ok(Item::Enum { name, values })
        } else {
            Err(lookahead.error())
        }
    }
}

impl Parse for Arguments {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let body;
        braced!(body in input);
        let mut items: Vec<Item> = Vec::new();
        while !body.is_empty() {
            items.push(body.parse()?);
        }
        let index = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                (
                    item.name().text.clone(),
                    (i, matches!(item, Item::Message { .. })),
                )
            })
            .collect();
        Ok(Self { items, index })
    }
}

impl Arguments {
    /// Every problem in the block and in the tools' `args` clauses.
    pub(crate) fn validate<'a>(
        &self,
        tools: impl Iterator<Item = &'a ToolArgs>,
        push: &mut dyn FnMut(Span, String),
    ) {
        let index = &self.index;
        let mut names = HashSet::new();
        for item in &self.items {
            let name = item.name();
            if !names.insert(name.text.as_str()) {
                push(name.span, format!("`{}` is described twice", name.text));
            }
            if well_known(&name.text).is_some() {
                push(
                    name.span,
                    format!(
                        "`{}` is a well-known type with a JSON form of its own; refer to it \
                         without describing it",
                        name.text
                    ),
                );
            }
            match item {
                Item::Message { fields, .. } => self.validate_fields(index, name, fields, push),
                Item::Enum { values, .. } => {
                    if values.is_empty() {
                        push(name.span, format!("enum `{}` has no values", name.text));
                    }
                    for (value, number) in values {
                        if number.base10_parse::<i32>().is_err() {
                            push(
                                number.span(),
                                format!("the number of `{value}` is not an `i32`"),
                            );
                        }
                    }
                }
            }
        }
        for args in tools {
            match index.get(args.proto.text.as_str()) {
                Some((_, true)) => {}
                _ => push(
                    args.proto.span,
                    format!(
                        "argument message `{}` is not described in the `arguments` block",
                        args.proto.text
                    ),
                ),
            }
        }
    }

    fn validate_fields(
        &self,
        index: &HashMap<String, (usize, bool)>,
        message: &ProtoName,
        fields: &[Field],
        push: &mut dyn FnMut(Span, String),
    ) {
        let mut names = HashSet::new();
        let mut numbers = HashSet::new();
        for field in fields {
            let name = field.name.unraw().to_string();
            if !names.insert(name.clone()) {
                push(
                    field.name.span(),
                    format!("field `{name}` of `{}` is described twice", message.text),
                );
            }
            match field.number.base10_parse::<u32>() {
                Ok(n) if (1..=536_870_911).contains(&n) => {
                    if !numbers.insert(n) {
                        push(
                            field.number.span(),
                            format!("field number {n} of `{}` is used twice", message.text),
                        );
                    }
                }
                _ => push(
                    field.number.span(),
                    "a field number is from 1 to 536870911".to_owned(),
                ),
            }
            if let Some(key) = &field.map_key
                && !matches!(
                    key.to_string().as_str(),
                    "string"
                        | "bool"
                        | "int32"
                        | "int64"
                        | "uint32"
                        | "uint64"
                        | "sint32"
                        | "sint64"
                        | "fixed32"
                        | "fixed64"
                        | "sfixed32"
                        | "sfixed64"
                )
            {
                push(
                    key.span(),
                    format!("`{key}` cannot be a map key: use a string, bool or integer type"),
                );
            }
            match &field.ty {
                FieldType::Scalar(_) => {}
                FieldType::Enum(name) => {
                    if !matches!(index.get(name.text.as_str()), Some((_, false))) {
                        push(
                            name.span,
                            format!(
                                "enum `{}` is not described in the `arguments` block",
                                name.text
                            ),
                        );
                    }
                }
                FieldType::Message(name) => {
                    if well_known(&name.text).is_none()
                        && !matches!(index.get(name.text.as_str()), Some((_, true)))
                    {
                        push(
                            name.span,
                            format!(
                                "message `{}` is not described in the `arguments` block",
                                name.text
                            ),
                        );
                    }
                }
            }
        }
    }

    fn static_ident(index: usize, span: Span) -> Ident {
        format_ident!("ARGUMENTS_{}", index, span = span)
    }

    fn kind(&self, ty: &FieldType, rt: &TokenStream) -> TokenStream {
        let index = &self.index;
        match ty {
            FieldType::Scalar(scalar) => {
                let variant = SCALARS
                    .iter()
                    .find(|(s, _)| scalar == s)
                    .map_or("String", |(_, v)| v);
                let variant = Ident::new(variant, scalar.span());
                quote!(#rt::arguments::FieldKind::#variant)
            }
            FieldType::Enum(name) => {
                let i = index.get(name.text.as_str()).map_or(0, |(i, _)| *i);
                let ident = Self::static_ident(i, name.span);
                quote!(#rt::arguments::FieldKind::Enum(&#ident))
            }
            FieldType::Message(name) => match well_known(&name.text) {
                Some(wkt) => {
                    let variant = Ident::new(wkt, name.span);
                    quote!(#rt::arguments::FieldKind::WellKnown(
                        #rt::arguments::WellKnown::#variant
                    ))
                }
                None => {
                    let i = index.get(name.text.as_str()).map_or(0, |(i, _)| *i);
                    let ident = Self::static_ident(i, name.span);
                    quote!(#rt::arguments::FieldKind::Message(&#ident))
                }
            },
        }
    }

    /// The statics describing every item, for `ToolCall::decode`; only after `validate` passed.
    pub(crate) fn render_statics(&self, rt: &TokenStream) -> TokenStream {
        let statics = self.items.iter().enumerate().map(|(i, item)| {
            let ident = Self::static_ident(i, item.name().span);
            let name = &item.name().text;
            match item {
                Item::Message { fields, .. } => {
                    let fields = fields.iter().map(|field| {
                        let proto_name = field.name.unraw().to_string();
                        let json = field
                            .json
                            .as_ref()
                            .map_or_else(|| ident::json_name(&proto_name), LitStr::value);
                        let number = &field.number;
                        let kind = self.kind(&field.ty, rt);
                        let label = if field.repeated {
                            quote!(#rt::arguments::Label::Repeated)
                        } else if let Some(key) = &field.map_key {
                            let key = self.kind(&FieldType::Scalar(key.clone()), rt);
                            quote!(#rt::arguments::Label::Map(#key))
                        } else {
                            quote!(#rt::arguments::Label::Singular)
                        };
                        let required = field.required;
                        let oneof = match &field.oneof {
                            Some(oneof) => {
                                let oneof = oneof.unraw().to_string();
                                quote!(::core::option::Option::Some(#oneof))
                            }
                            None => quote!(::core::option::Option::None),
                        };
                        quote! {
                            #rt::arguments::FieldSpec {
                                name: #proto_name,
                                json_name: #json,
                                number: #number,
                                label: #label,
                                kind: #kind,
                                required: #required,
                                oneof: #oneof,
                            }
                        }
                    });
                    let doc = format!(" The fields of `{name}`.");
                    quote! {
                        #[doc = #doc]
                        pub static #ident: #rt::arguments::MessageSpec = #rt::arguments::MessageSpec {
                            name: #name,
                            fields: &[#(#fields),*],
                        };
                    }
                }
                Item::Enum { values, .. } => {
                    let values = values.iter().map(|(value, number)| {
                        let value = value.unraw().to_string();
                        quote!((#value, #number))
                    });
                    let doc = format!(" The values of `{name}`.");
                    quote! {
                        #[doc = #doc]
                        pub static #ident: #rt::arguments::EnumSpec = #rt::arguments::EnumSpec {
                            name: #name,
                            values: &[#((#values)),*],
                        };
                    }
                }
            }
        });
        quote! {
            /// The argument messages of this service's tools, for `ToolCall::decode`.
            #[doc(hidden)]
            pub mod __arguments {
                #(#statics)*
            }
        }
    }

    /// The static describing the argument message `name`.
    pub(crate) fn message_static(&self, name: &ProtoName) -> TokenStream {
        let i = self.index.get(name.text.as_str()).map_or(0, |(i, _)| *i);
        let ident = Self::static_ident(i, name.span);
        quote!(__arguments::#ident)
    }
}

/// The `ToolCall` variant names of `tools` (UpperCamel of the tool name; a number appended when
/// two names meet, e.g. `read_file` and `readFile`).
pub(crate) fn variant_names(tools: &[String], span: Span) -> Vec<Ident> {
    let mut taken = HashSet::new();
    tools
        .iter()
        .map(|tool| {
            let cleaned: String = tool
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut base = ident::to_upper_camel(&cleaned);
            if base.is_empty() || base.starts_with('_') {
                base = format!("Tool{}", base.trim_start_matches('_'));
            }
            let base = base.trim_start_matches("r#").to_owned();
            let base = if base == "Undeclared" || base == "Self_" {
                format!("{}Tool", base.trim_end_matches('_'))
            } else {
                base
            };
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}{n}");
                n += 1;
            }
            ident::ident(&name, span)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_unique_identifiers() {
        let names = [
            "read_file",
            "readFile",
            "delete-file",
            "9lives",
            "self",
            "Undeclared",
        ]
        .map(str::to_owned);
        let variants: Vec<String> = variant_names(&names, Span::call_site())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            variants,
            [
                "ReadFile",
                "ReadFile2",
                "DeleteFile",
                "Tool9lives",
                "SelfTool",
                "UndeclaredTool"
            ]
        );
    }
}
