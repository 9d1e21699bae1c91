//! `token_cache=`: a directory, a Redis URL or a Python object as the core's
//! [`SharedStore`]; and `druva.DirectoryTokenStore`, the core's directory
//! store with the `druva.TokenStore` methods.
//!
//! A Python store (any object with the methods, `druva.RedisTokenStore`) is
//! called on one dedicated thread of this process, never on a runtime thread:
//! the core runs store operations on the runtime's blocking pool, which hands
//! each call to that thread and waits for it, bounded by the operation's
//! timeout. So no Python object is made or dropped on a runtime thread, and a
//! store that hangs holds up only its callers, each until its timeout. The
//! thread is a [`PerProcess`] value: a forked child starts its own (the
//! parent's is leaked there, never joined). At interpreter exit it stops
//! attaching to Python (`Python::try_attach`): a call then fails, which the
//! core treats as a failing store.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::args;
use crate::errors::OrRaise;
use druva_core::directory::DirectoryStore;
use druva_core::runtime::{self, PerProcess};
use druva_core::store::{SharedStore, StoreHandle, StoreLock};

/// The methods that make an object a `druva.TokenStore`.
const STORE_METHODS: [&str; 4] = ["load", "save", "delete", "lock"];

/// `token_cache=` as the core takes it: `None`, a `druva.DirectoryTokenStore`,
/// a `redis://` / `rediss://` URL (a `druva.RedisTokenStore`), a directory
/// path (`str` or `os.PathLike`), or any object with the `druva.TokenStore`
/// methods. A directory that is not private is a `ValueError` here, before
/// any token request.
pub fn token_cache_argument(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<StoreHandle>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(None);
    };
    let py = value.py();
    if let Ok(directory) = value.cast::<PyDirectoryTokenStore>() {
        return Ok(Some(StoreHandle(directory.get().store.clone())));
    }
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_cow()?;
        if text.starts_with("redis://") || text.starts_with("rediss://") {
            let store = py
                .import(pyo3::intern!(py, "druva._store"))?
                .call_method1(pyo3::intern!(py, "redis_store"), (value,))?;
            return python_store(&store).map(Some);
        }
    }
    if let Ok(path) = value.extract::<args::Path>() {
        return Ok(Some(StoreHandle(Arc::new(open_directory(py, path)?))));
    }
    python_store(value).map(Some)
}

/// The directory store at `path`, a leading `~` expanded (`os.path.expanduser`).
fn open_directory(py: Python<'_>, path: args::Path) -> PyResult<DirectoryStore> {
    let args::Path(path) = path;
    let path: PathBuf = py
        .import(pyo3::intern!(py, "os.path"))?
        .call_method1(pyo3::intern!(py, "expanduser"), (path,))?
        .extract()?;
    py.detach(move || DirectoryStore::open(&path)).or_raise()
}

/// An object with the `druva.TokenStore` methods, as the core's store.
fn python_store(value: &Bound<'_, PyAny>) -> PyResult<StoreHandle> {
    for method in STORE_METHODS {
        if !value.hasattr(method)? {
            return Err(PyTypeError::new_err(format!(
                "token_cache must be a directory (str or os.PathLike), a redis:// URL, \
                 None, or an object with the druva.TokenStore methods (load, save, delete, \
                 lock); {} has no {method}()",
                args::type_name(value)
            )));
        }
    }
    let store = PythonStore {
        identity: format!("python object {:#x}", value.as_ptr() as usize),
        description: value
            .repr()
            .map_or_else(|_| args::type_name(value), |repr| repr.to_string()),
        object: Some(Arc::new(value.clone().unbind())),
    };
    Ok(StoreHandle(Arc::new(store)))
}

/// A call into Python, run on the store thread with the interpreter attached.
type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// The store thread of this process: where every Python store is called.
static STORE_THREAD: PerProcess<mpsc::Sender<Job>> = PerProcess::new();

/// What the store thread is doing, with the process generation it applies
/// to: `generation * 4 +` [`IDLE`], [`BUSY`] or [`STOPPED`]. A value of
/// another generation (left by the parent at a fork) counts as idle.
static STORE_THREAD_STATE: AtomicU64 = AtomicU64::new(0);
const IDLE: u64 = 0;
const BUSY: u64 = 1;
const STOPPED: u64 = 2;

/// The longest interpreter exit waits for a Python store call under way.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Marks the store thread busy for one job; `false` once it is stopped.
fn start_job() -> bool {
    let generation = runtime::generation();
    let mut current = STORE_THREAD_STATE.load(Ordering::Acquire);
    loop {
        if current == generation * 4 + STOPPED {
            return false;
        }
        match STORE_THREAD_STATE.compare_exchange(
            current,
            generation * 4 + BUSY,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}

fn end_job() {
    let generation = runtime::generation();
    let _ = STORE_THREAD_STATE.compare_exchange(
        generation * 4 + BUSY,
        generation * 4 + IDLE,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// Stops calling Python stores, at interpreter exit: waits (the GIL
/// released) for a call under way, up to [`EXIT_WAIT`], so that no store
/// call takes the GIL back from a finalizing interpreter; later jobs are
/// dropped unrun, which their callers see as a failing store.
pub fn stop_store_thread(py: Python<'_>) {
    py.detach(|| {
        let generation = runtime::generation();
        let deadline = Instant::now() + EXIT_WAIT;
        loop {
            let current = STORE_THREAD_STATE.load(Ordering::Acquire);
            if current == generation * 4 + STOPPED {
                return;
            }
            let busy = current == generation * 4 + BUSY;
            if busy && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if STORE_THREAD_STATE
                .compare_exchange(
                    current,
                    generation * 4 + STOPPED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                return;
            }
        }
    });
}

fn store_thread() -> io::Result<mpsc::Sender<Job>> {
    STORE_THREAD
        .get_or_try_init(|| {
            let (sender, jobs) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("druva-token-store".into())
                .spawn(move || {
                    for job in jobs {
                        // After interpreter exit began, the job is dropped
                        // unrun: its caller sees the store fail.
                        if start_job() {
                            let _ = Python::try_attach(job);
                            end_job();
                        }
                    }
                })
                .map_err(|error| druva_core::errors::Error::Transport {
                    message: format!("could not start the token store thread: {error}"),
                })?;
            Ok(sender)
        })
        .map_err(|error| io::Error::other(error.to_string()))
}

/// Runs `call` on the store thread and waits at most `timeout` for its result.
fn call_python<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
) -> io::Result<T> {
    let (sender, result) = mpsc::sync_channel(1);
    let job: Job = Box::new(move |py| {
        let outcome = call(py).map_err(|error| io::Error::other(describe_error(py, &error)));
        let _ = sender.send(outcome);
    });
    store_thread()?
        .send(job)
        .map_err(|_| io::Error::other("the token store thread has stopped"))?;
    match result.recv_timeout(timeout) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {:.3} s", timeout.as_secs_f64()),
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(
            "the interpreter is exiting: the Python token store was not called",
        )),
    }
}

/// An exception as a log record shows it: its type and message.
fn describe_error(py: Python<'_>, error: &PyErr) -> String {
    let name = error
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".to_owned(), |name| name.to_string());
    format!("{name}: {}", error.value(py))
}

/// A Python object with the `druva.TokenStore` methods.
struct PythonStore {
    identity: String,
    description: String,
    /// Always `Some` until dropped, when it is handed to the store thread.
    /// Jobs hold clones of the `Arc` (no Python reference count is touched
    /// off that thread) and drop them there.
    object: Option<Arc<Py<PyAny>>>,
}

impl PythonStore {
    fn object(&self) -> io::Result<Arc<Py<PyAny>>> {
        self.object
            .clone()
            .ok_or_else(|| io::Error::other("the token store was dropped"))
    }
}

impl SharedStore for PythonStore {
    fn load(&self, key: &str, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let object = self.object()?;
        let key = key.to_owned();
        call_python(timeout, move |py| {
            let blob = object.bind(py).call_method1("load", (key,))?;
            if blob.is_none() {
                return Ok(None);
            }
            Ok(Some(blob.extract::<Vec<u8>>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "load() must return bytes or None, not {}",
                    args::type_name(&blob)
                ))
            })?))
        })
    }

    fn save(&self, key: &str, blob: &[u8], ttl: Duration, timeout: Duration) -> io::Result<()> {
        let object = self.object()?;
        let (key, blob) = (key.to_owned(), blob.to_vec());
        call_python(timeout, move |py| {
            let blob = PyBytes::new(py, &blob);
            object
                .bind(py)
                .call_method1("save", (key, blob, ttl.as_secs_f64().ceil()))?;
            Ok(())
        })
    }

    fn delete(&self, key: &str, blob: &[u8], timeout: Duration) -> io::Result<()> {
        let object = self.object()?;
        let (key, blob) = (key.to_owned(), blob.to_vec());
        call_python(timeout, move |py| {
            let blob = PyBytes::new(py, &blob);
            object.bind(py).call_method1("delete", (key, blob))?;
            Ok(())
        })
    }

    fn lock(&self, key: &str, timeout: Duration) -> io::Result<Option<StoreLock>> {
        let object = self.object()?;
        let key = key.to_owned();
        // The call itself waits for the lock: give it its timeout and a
        // little more for the round trip.
        let taken = call_python(timeout + Duration::from_secs(1), move |py| {
            let context = object
                .bind(py)
                .call_method1("lock", (key, timeout.as_secs_f64()))?;
            match context.call_method0("__enter__") {
                Ok(_) => Ok(Some(context.unbind())),
                Err(error) if error.is_instance_of::<PyTimeoutError>(py) => Ok(None),
                Err(error) => Err(error),
            }
        })?;
        Ok(taken.map(|context| Box::new(PythonLock(Some(Arc::new(context)))) as StoreLock))
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl Drop for PythonStore {
    fn drop(&mut self) {
        release_on_store_thread(self.object.take(), |_, _| {});
    }
}

/// A lock a Python store's `lock()` context manager holds: `__exit__` on
/// drop, waited for (up to [`RELEASE_WAIT`]), so that a process that got
/// its token has released the lock before it goes on (or exits).
struct PythonLock(Option<Arc<Py<PyAny>>>);

/// The longest a lock release waits for the store's `__exit__`.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

impl Drop for PythonLock {
    fn drop(&mut self) {
        let Some(context) = self.0.take() else { return };
        let _ = call_python(RELEASE_WAIT, move |py| {
            let none = py.None();
            let exited = context
                .bind(py)
                .call_method1("__exit__", (none.clone_ref(py), none.clone_ref(py), none));
            drop(context);
            exited.map(drop)
        });
    }
}

/// Hands `object` to the store thread, which runs `release` on it and drops
/// it there; without that thread (a failed start), pyo3 defers the drop.
fn release_on_store_thread(
    object: Option<Arc<Py<PyAny>>>,
    release: impl FnOnce(Python<'_>, &Py<PyAny>) + Send + 'static,
) {
    let Some(object) = object else { return };
    if let Ok(sender) = store_thread() {
        let _ = sender.send(Box::new(move |py| {
            release(py, &object);
            drop(object);
        }));
    }
}

/// A token store in a directory of this host: the one ``token_cache="/some/dir"`` makes.
///
/// Processes of this host that share the directory and a credential make one
/// token request per token lifetime between them. Each token is a file,
/// sealed (encrypted and authenticated under a key derived from the secret)
/// and named by an HMAC, so the files show no token, no Client ID and no link
/// to a credential; the directory is created 0700 and its files 0600,
/// written atomically; locks are ``flock`` locks, released by the kernel when
/// their holder dies. Like ssh with a key file, a directory owned by another
/// user or writable by others is refused.
///
/// Args:
///     path: the directory (``str`` or ``os.PathLike``; a leading ``~`` is
///         the home directory), created if missing.
///
/// Raises:
///     ValueError: the directory cannot be created, is not a directory, or
///         is owned by another user or writable by others.
///
/// >>> import tempfile
/// >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
/// >>> druva.get_token(client_id, secret, token_cache=store)["token_type"]
/// 'bearer'
/// >>> druva.get_token(client_id, secret, token_cache=store.path) == druva.get_token(client_id, secret, token_cache=store)
/// True
#[pyclass(frozen, module = "druva", name = "DirectoryTokenStore")]
pub struct PyDirectoryTokenStore {
    store: Arc<DirectoryStore>,
}

#[pymethods]
impl PyDirectoryTokenStore {
    #[new]
    fn new(py: Python<'_>, path: args::Path) -> PyResult<Self> {
        Ok(PyDirectoryTokenStore {
            store: Arc::new(open_directory(py, path)?),
        })
    }

    /// The directory, absolute.
    ///
    /// >>> import tempfile
    /// >>> druva.DirectoryTokenStore(tempfile.mkdtemp()).path.is_absolute()
    /// True
    #[getter]
    fn path(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }

    /// The sealed entry stored under ``key``, or ``None``.
    ///
    /// >>> import tempfile
    /// >>> druva.DirectoryTokenStore(tempfile.mkdtemp()).load("0123abcd") is None
    /// True
    fn load<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let blob = py.detach(|| self.store.load(key, Duration::ZERO))?;
        Ok(blob.map(|blob| PyBytes::new(py, &blob)))
    }

    /// Stores ``blob`` under ``key``, atomically, replacing any other.
    ///
    /// The file is written beside the entry, fsynced and renamed over it,
    /// so a reader sees the old entry or the new one, never a part.
    ///
    /// >>> import tempfile
    /// >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
    /// >>> store.save("0123abcd", b"sealed", 1800)
    /// >>> store.load("0123abcd")
    /// b'sealed'
    #[pyo3(signature = (key, blob, ttl_seconds))]
    fn save(&self, py: Python<'_>, key: &str, blob: &[u8], ttl_seconds: f64) -> PyResult<()> {
        let ttl = Duration::try_from_secs_f64(ttl_seconds.max(0.0)).unwrap_or(Duration::MAX);
        let blob = blob.to_vec();
        Ok(py.detach(|| self.store.save(key, &blob, ttl, LOCK_WAIT))?)
    }

    /// Deletes the entry under ``key`` only while it is ``blob``.
    ///
    /// >>> import tempfile
    /// >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
    /// >>> store.save("0123abcd", b"sealed", 1800)
    /// >>> store.delete("0123abcd", b"sealed")
    /// >>> store.load("0123abcd") is None
    /// True
    fn delete(&self, py: Python<'_>, key: &str, blob: &[u8]) -> PyResult<()> {
        let blob = blob.to_vec();
        Ok(py.detach(|| self.store.delete(key, &blob, LOCK_WAIT))?)
    }

    /// A context manager holding ``key``'s lock across processes.
    ///
    /// Entering it raises ``TimeoutError`` when the lock is not free within
    /// ``timeout_seconds``; the lock is an ``flock``, which the kernel
    /// releases if its holder dies.
    ///
    /// >>> import tempfile
    /// >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
    /// >>> with store.lock("0123abcd", 5.0):
    /// ...     pass
    #[pyo3(signature = (key, timeout_seconds))]
    fn lock(&self, key: &str, timeout_seconds: f64) -> DirectoryLock {
        DirectoryLock {
            store: Arc::clone(&self.store),
            key: key.to_owned(),
            timeout: Duration::try_from_secs_f64(timeout_seconds.max(0.0)).unwrap_or(Duration::MAX),
            held: std::sync::Mutex::new(None),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let path = PyString::new(py, &self.store.path().display().to_string());
        Ok(format!("DirectoryTokenStore({})", path.repr()?))
    }
}

/// The longest a save or delete waits for another writer of the same entry.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// `DirectoryTokenStore.lock()`: the held lock while inside ``with``.
#[pyclass(frozen, module = "druva._druva", name = "_DirectoryLock")]
pub struct DirectoryLock {
    store: Arc<DirectoryStore>,
    key: String,
    timeout: Duration,
    /// Locked only with the GIL released and never across Python code.
    held: std::sync::Mutex<Option<StoreLock>>,
}

#[pymethods]
impl DirectoryLock {
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let this = slf.get();
        let taken = slf
            .py()
            .detach(|| this.store.lock(&this.key, this.timeout))?;
        let Some(lock) = taken else {
            return Err(PyTimeoutError::new_err(format!(
                "the token store lock was not free within {:.3} s",
                this.timeout.as_secs_f64()
            )));
        };
        *this
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lock);
        Ok(slf)
    }

    #[pyo3(signature = (*_exception))]
    fn __exit__(&self, _exception: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        let released = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(released);
        false
    }
}
