//! `clone_in_place!`: a `Clone` whose `clone_from` goes field by field, each field with its own
//! `clone_from`, for the structs a model checker clones into a box that already holds a member
//! (`leasesim_models::recycled`). A derived `Clone` would build the whole value aside and move it in
//! (a ~1.3 KB copy per generated state, in several pieces, through `memcpy`); this writes each
//! small map's entries where they already are.
//!
//! The field list is exhaustive: the macro destructures the struct with it, so a field added to
//! the struct and not to the list is a compile error, not a field silently left uncloned.

/// `clone_in_place!(impl<generics> for Type<params> { field, … })` implements `Clone` for a
/// struct with named fields: `clone` clones each field, `clone_from` calls each field's
/// `clone_from`. Each generic parameter needs a bound, to which the impl adds `Clone`.
#[macro_export]
macro_rules! clone_in_place {
    (impl $(<$($generic:ident $(: $bound:path)?),*>)? for $ty:ident $(<$($param:ident),*>)? { $($field:ident),* $(,)? }) => {
        impl $(<$($generic $(: $bound + Clone)?),*>)? Clone for $ty $(<$($param),*>)? {
            fn clone(&self) -> Self {
                let $ty { $($field),* } = self;
                $ty { $($field: $field.clone()),* }
            }
            fn clone_from(&mut self, source: &Self) {
                let $ty { $($field),* } = self;
                $($field.clone_from(&source.$field);)*
            }
        }
    };
}
