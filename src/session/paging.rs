//! `paginate`'s arguments into a `druva.Paginator`: the list's walk is the
//! core's, checked before anything is sent.

use std::sync::Arc;

use pyo3::prelude::*;

use super::base::{call_progress, PyBaseSession};
use crate::args::{self, Pairs};
use crate::errors::Result;
use crate::paginator::PyPaginator;
use druva_core::pager::Pager;
use druva_core::paginate::{self, Declared, ListWalk, PageStyle};
use druva_core::session::Body;

/// `paginate`'s arguments as Python passed them, typed.
pub(super) struct ListArguments<'a, 'py> {
    pub(super) url: &'a str,
    pub(super) params: Option<Pairs>,
    pub(super) items: Option<&'a str>,
    pub(super) method: &'a str,
    pub(super) json: Option<&'a Bound<'py, PyAny>>,
    pub(super) cursor: Option<&'a str>,
    pub(super) style: Option<&'a str>,
    pub(super) progress: bool,
    pub(super) cursor_field: Option<String>,
    pub(super) cursor_param: Option<String>,
    pub(super) keep_params: Option<bool>,
}

impl ListArguments<'_, '_> {
    pub(super) fn into_paginator(
        self,
        py: Python<'_>,
        session: &PyBaseSession,
    ) -> Result<PyPaginator> {
        let body = match args::body(self.json, None)? {
            Body::Json(bytes) => Some(bytes),
            _ => None,
        };
        let walk = ListWalk::new(
            paginate::Method::from_name(self.method)?,
            Pairs::or_empty(self.params),
            body.as_deref(),
            self.items.map(str::to_owned),
            self.cursor.map(str::to_owned),
            self.style.map(PageStyle::from_name).transpose()?,
            Declared::from_arguments(self.cursor_field, self.cursor_param, self.keep_params)?,
        )?;
        // Checked now, so a foreign origin fails here rather than on first next().
        let pager = Pager::new(Arc::clone(&session.inner), self.url, walk)?;
        let bar = if self.progress {
            Some(call_progress(py, "bar", (self.url,))?)
        } else {
            None
        };
        Ok(PyPaginator::new(pager, session.is_async, bar))
    }
}
