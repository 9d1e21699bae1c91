//! druva's exception classes, as the binding raises them.
//!
//! They are defined in `druva/_errors.py` (where multiple inheritance from
//! the builtins is plain Python) and imported when first raised. A leaf: it
//! imports no other module of the binding, so any of them may raise these.

pyo3::import_exception!(druva._errors, AuthenticationError);
pyo3::import_exception!(druva._errors, HTTPStatusError);
pyo3::import_exception!(druva._errors, RateLimitError);
pyo3::import_exception!(druva._errors, TransportError);
pyo3::import_exception!(druva._errors, TimeoutError);
pyo3::import_exception!(druva._errors, ProtocolError);
pyo3::import_exception!(druva._errors, JSONDecodeError);
