//! `#[handlers]`: check each handler's proof argument with errors on the user's own tokens.
//!
//! Every generated handler takes `&self`, the proof, then the request. The attribute:
//! - reports a handler with another number of arguments in words about authorization;
//! - writes the proof argument's type as `<policy::Rpc as ProofOf<C>>::Proof`, which is the
//!   trait's own type, so a wrong proof is not also a signature mismatch;
//! - checks the type the user wrote with `ProofFor<policy::Rpc>`, whose diagnostic names the
//!   RPC and the proof it needs, spanned on that type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, PathArguments};

use crate::ident;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new(
            attr.span(),
            "`#[mcp_auth::handlers]` takes no arguments",
        ));
    }
    let mut item_impl: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item_impl) => item_impl,
        Err(_) => {
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[mcp_auth::handlers]` goes on an `impl` of a generated service trait",
            )
            .into_compile_error();
            return quote!(#error #item);
        }
    };
    let Some((_, trait_path, _)) = &item_impl.trait_ else {
        let error = syn::Error::new(
            item_impl.self_ty.span(),
            "`#[mcp_auth::handlers]` goes on an `impl` of a generated service trait, \
             like `impl foo_auth::Foo for MyService`",
        )
        .into_compile_error();
        return quote!(#error #item_impl);
    };

    // The markers live in `policy`, beside the trait; the claims type is the trait's argument.
    let mut policy_module = trait_path.clone();
    let claims = match policy_module
        .segments
        .pop()
        .map(|p| p.into_value().arguments)
    {
        Some(PathArguments::AngleBracketed(args)) if args.args.len() == 1 => {
            let arg = &args.args[0];
            quote!(#arg)
        }
        _ => quote!(::mcp_auth::StandardClaims),
    };
    policy_module.segments.push(syn::parse_quote!(policy));

    let mut checks = Vec::new();
    for impl_item in &mut item_impl.items {
        let ImplItem::Fn(handler) = impl_item else {
            continue;
        };
        let name = handler.sig.ident.unraw().to_string();
        let marker = ident::ident(&ident::to_upper_camel(&name), handler.sig.ident.span());
        let expected = quote!(#policy_module::#marker);
        let projected: syn::Type =
            syn::parse_quote!(<#expected as ::mcp_auth::codegen::ProofOf<#claims>>::Proof);
        let shape = format!(
            "handler `{name}` takes two arguments after `&self`: the proof \
             `Authorized<C, policy::{marker}>` (`Public<policy::{marker}>` for a public RPC), \
             then the request"
        );
        let receiver = usize::from(handler.sig.receiver().is_some());
        let typed = handler.sig.inputs.len() - receiver;
        match typed {
            2 => {
                let Some(FnArg::Typed(proof)) = handler.sig.inputs.iter_mut().nth(receiver) else {
                    continue;
                };
                let written = std::mem::replace(&mut *proof.ty, projected);
                checks.push(quote_spanned! {written.span()=>
                    __mcp_auth_proof_for::<#written, #expected>();
                });
            }
            1 => {
                let only = &handler.sig.inputs[receiver];
                errors.push(syn::Error::new(
                    only.span(),
                    format!("{shape}; this one has no proof"),
                ));
                // Add the missing proof so the signature matches and this is the only error.
                handler
                    .sig
                    .inputs
                    .insert(receiver, syn::parse_quote!(_: #projected));
            }
            _ => errors.push(syn::Error::new(handler.sig.ident.span(), shape)),
        }
    }

    let errors = errors.into_iter().map(syn::Error::into_compile_error);
    let (impl_generics, _, where_clause) = item_impl.generics.split_for_impl();
    quote! {
        #(#errors)*
        #item_impl
        const _: () = {
            fn __mcp_auth_proof_for<Proof: ::mcp_auth::ProofFor<Rpc> + ?Sized, Rpc>() {}
            #[allow(dead_code)]
            fn __mcp_auth_handlers #impl_generics () #where_clause {
                #(#checks)*
            }
        };
    }
}
