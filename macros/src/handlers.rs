//! `#[handlers]`: check each handler's proof argument with errors on the user's own tokens.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl};

use crate::ident;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new(
            attr.span(),
            "`#[mcp_auth::handlers]` takes no arguments",
        ));
    }
    let item_impl: ItemImpl = match syn::parse2(item.clone()) {
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

    // The markers live in `policy`, beside the trait.
    let mut policy_module = trait_path.clone();
    policy_module.segments.pop();
    policy_module.segments.push(syn::parse_quote!(policy));

    let mut checks = Vec::new();
    for impl_item in &item_impl.items {
        let ImplItem::Fn(handler) = impl_item else {
            continue;
        };
        let name = handler.sig.ident.unraw().to_string();
        let marker = ident::ident(&ident::to_upper_camel(&name), handler.sig.ident.span());
        let expected = quote!(#policy_module::#marker);
        let proof = handler.sig.inputs.iter().find_map(|arg| match arg {
            FnArg::Typed(pat_type) => Some(&pat_type.ty),
            FnArg::Receiver(_) => None,
        });
        match proof {
            Some(ty) => checks.push(quote_spanned! {ty.span()=>
                __mcp_auth_proof_for::<#ty, #expected>();
            }),
            None => errors.push(syn::Error::new(
                handler.sig.span(),
                format!(
                    "handler `{name}` must take `Authorized<C, policy::{marker}>` as its first \
                     argument after `&self`"
                ),
            )),
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
