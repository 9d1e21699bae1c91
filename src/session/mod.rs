//! `druva.Session` and `druva.AsyncSession`: one implementation, two faces.
//!
//! Both classes extend `_BaseSession` ([`base`]), which holds the core
//! session and sends every call once: a sync session waits for the core
//! future with the GIL released, an async one returns a coroutine that runs
//! the same future. [`calls`] holds the Python methods (`get`, `request`,
//! `paginate`, `map`...), [`classes`] the two constructors, [`arguments`],
//! [`paging`] and [`map`] the conversion of their arguments.

mod arguments;
mod base;
mod calls;
mod classes;
mod map;
mod paging;

pub use base::PyBaseSession;
pub use classes::{PyAsyncSession, PySession};
