//! One module per page.

pub mod assertions;
pub mod auth;
pub mod case;
pub mod compare;
pub mod run;
pub mod runs;
