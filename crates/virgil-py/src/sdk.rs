//! `Virgil` and its parts as in the tutorial: `virgil.keys`, `virgil.identities`,
//! `virgil.cards`, `virgil.account`, `virgil.messages`, `virgil.contacts`.

use crate::buffer::{VirgilBuffer, bytes_of};
use crate::card::{Card, walk};
use crate::errors::to_py;
use crate::key::VirgilKey;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use virgil::client::ClientError;
use virgil::{CardId, ClientFile, Config, KeyChangePolicy, PublicKey, TlsRoots};

type Shared = Arc<virgil::Virgil>;

/// A public key given as base64 text (as in client.toml) or as bytes.
fn public_key(value: &Bound<'_, PyAny>, what: &str) -> PyResult<PublicKey> {
    let bytes = if let Ok(text) = value.cast::<PyString>() {
        virgil::Buffer::from_string(&text.to_cow()?, virgil::Encoding::Base64)
            .map_err(|_| PyValueError::new_err(format!("{what} is not base64")))?
            .into_bytes()
    } else {
        bytes_of(value)?.into_owned()
    };
    PublicKey::from_bytes(&bytes)
        .map_err(|_| PyValueError::new_err(format!("{what} is not a Virgil public key")))
}

/// A Python callable returning a current access token (str) for the cards service, as
/// the facade's token source: called, with the GIL, whenever the client needs a token.
fn token_source(
    source: Py<PyAny>,
) -> PyResult<impl Fn() -> Result<String, ClientError> + Send + Sync + 'static> {
    let callable = Python::attach(|py| source.bind(py).is_callable());
    if !callable {
        return Err(PyTypeError::new_err(
            "access_token must be a callable that returns a current access token (str)",
        ));
    }
    Ok(move || {
        Python::attach(|py| {
            source
                .call0(py)
                .and_then(|token| token.extract::<String>(py))
                .map_err(|error| ClientError::Token(error.to_string()))
        })
    })
}

fn policy(name: &str) -> PyResult<KeyChangePolicy> {
    match name {
        "block" => Ok(KeyChangePolicy::Block),
        "warn" => Ok(KeyChangePolicy::Warn),
        "accept" => Ok(KeyChangePolicy::Accept),
        _ => Err(PyValueError::new_err(format!(
            "unknown key_changes policy {name:?}: use \"block\" (default), \"warn\" or \"accept\""
        ))),
    }
}

fn tls_roots(ca_file: Option<&Path>) -> PyResult<TlsRoots> {
    let Some(path) = ca_file else {
        return Ok(TlsRoots::default());
    };
    let pem = std::fs::read(path).map_err(|e| {
        PyValueError::new_err(format!("cannot read the CA file {}: {e}", path.display()))
    })?;
    TlsRoots::from_pem(&pem)
        .map_err(|e| PyValueError::new_err(format!("the CA file {}: {e}", path.display())))
}

impl Virgil {
    /// Finishes `config` with what both constructors take for this device.
    fn for_device(
        mut config: Config,
        key_dir: Option<PathBuf>,
        contacts_file: Option<PathBuf>,
        key_changes: &str,
        access_token: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        config = config.key_changes(policy(key_changes)?);
        if let Some(dir) = key_dir {
            config = config.key_dir(dir);
        }
        if let Some(file) = contacts_file {
            config = config.contacts_file(file);
        }
        if let Some(source) = access_token {
            config = config.tokens(token_source(source)?);
        }
        virgil::Virgil::new(config)
            .map(|virgil| Self(Arc::new(virgil)))
            .map_err(to_py)
    }
}

/// The SDK: keys, identities, cards, the account and messages.
///
/// `Virgil(app_id, app_key, service_key, cards_service=..., app_server=...,
/// key_dir=..., ca_file=...)`, or `Virgil.from_config("client.toml", key_dir=...)` for a
/// deployment made with `virgil init`. The two public keys are pinned: ship them with
/// the app. Without `key_dir`, keys live in memory only.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Virgil(Shared);

#[pymethods]
impl Virgil {
    #[new]
    #[pyo3(signature = (app_id, app_key, service_key, *, cards_service=None, app_server=None,
                        key_dir=None, ca_file=None, contacts_file=None, key_changes="block",
                        access_token=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        app_id: &str,
        app_key: &Bound<'_, PyAny>,
        service_key: &Bound<'_, PyAny>,
        cards_service: Option<&str>,
        app_server: Option<&str>,
        key_dir: Option<PathBuf>,
        ca_file: Option<PathBuf>,
        contacts_file: Option<PathBuf>,
        key_changes: &str,
        access_token: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut config = Config::new(
            app_id,
            public_key(app_key, "app_key")?,
            public_key(service_key, "service_key")?,
        )
        .tls_roots(tls_roots(ca_file.as_deref())?);
        if let Some(url) = cards_service {
            config = config.cards_service(url);
        }
        if let Some(url) = app_server {
            config = config.app_server(url);
        }
        Self::for_device(config, key_dir, contacts_file, key_changes, access_token)
    }

    /// The SDK for the deployment described by `path` (the `client.toml` that
    /// `virgil init` wrote: servers, pinned keys, CA).
    #[staticmethod]
    #[pyo3(signature = (path, *, key_dir=None, contacts_file=None, key_changes="block",
                        access_token=None))]
    fn from_config(
        path: PathBuf,
        key_dir: Option<PathBuf>,
        contacts_file: Option<PathBuf>,
        key_changes: &str,
        access_token: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PyValueError::new_err(format!(
                "cannot read the client configuration {} ({e}): `virgil init` writes one (client.toml in its --dir)",
                path.display()
            ))
        })?;
        let config = ClientFile::from_toml(&text)
            .and_then(|file| file.config(path.parent()))
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        Self::for_device(config, key_dir, contacts_file, key_changes, access_token)
    }

    /// Generating, saving and loading keys.
    #[getter]
    fn keys(&self) -> Keys {
        Keys(self.0.clone())
    }

    /// Creating identities.
    #[getter]
    fn identities(&self) -> Identities {
        Identities
    }

    /// Creating, importing, finding and getting cards.
    #[getter]
    fn cards(&self) -> Cards {
        Cards(self.0.clone())
    }

    /// The account on the application server.
    #[getter]
    fn account(&self) -> Account {
        Account(self.0.clone())
    }

    /// Key backup at the application server, its password hardened by the cards service.
    #[getter]
    fn backups(&self) -> Backups {
        Backups(self.0.clone())
    }

    /// Pairing a new device of the logged-in user with a short code.
    #[getter]
    fn devices(&self) -> Devices {
        Devices(self.0.clone())
    }

    /// Sending and reading messages through the application server's relay.
    #[getter]
    fn messages(&self) -> Messages {
        Messages(self.0.clone())
    }

    /// The contact store: key changes, safety numbers.
    #[getter]
    fn contacts(&self) -> Contacts {
        Contacts(self.0.clone())
    }

    /// Checks the logged-in user's own cards: returns those this device's keys made or
    /// link (the ones messages are encrypted to); raises `SelfCheckAlarm` if the
    /// identity has any other card (someone else added it: revoke it with one of your
    /// keys and change your password).
    fn self_check(&self, py: Python<'_>) -> PyResult<Vec<Card>> {
        py.detach(|| self.0.self_check())
            .map(|check| {
                check
                    .cards
                    .into_iter()
                    .map(|found| Card(found.card))
                    .collect()
            })
            .map_err(to_py)
    }

    /// `self_check`, then every version of the user's cards the key directory ever
    /// published (proven against a checkpoint the service key signed): returns today's
    /// cards; raises `MonitorAlarm` (a `SelfCheckAlarm`) for a card this device did not
    /// make in any version, or a revoked card listed again.
    fn monitor(&self, py: Python<'_>) -> PyResult<Vec<Card>> {
        py.detach(|| self.0.monitor())
            .map(|monitored| {
                monitored
                    .check
                    .cards
                    .into_iter()
                    .map(|found| Card(found.card))
                    .collect()
            })
            .map_err(to_py)
    }

    /// The tutorial's form: `virgil.sign_then_encrypt(message, [alice_key, bob_cards])`
    /// signs with the one key in `recipients` and encrypts for every card in it (lists
    /// may nest) and for that key.
    fn sign_then_encrypt(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        recipients: &Bound<'_, PyAny>,
    ) -> PyResult<VirgilBuffer> {
        let message = bytes_of(message)?;
        let mut cards = Vec::new();
        let mut others = Vec::new();
        walk(recipients, &mut cards, &mut others, 0)?;
        let keys = others
            .iter()
            .map(|other| {
                other.cast::<VirgilKey>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "expected Cards and the sender's VirgilKey, not {}",
                        other
                            .get_type()
                            .name()
                            .map(|name| name.to_string())
                            .unwrap_or_default()
                    ))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        match keys.as_slice() {
            [key] => key.get().seal(py, &message, &cards),
            [] => Err(PyValueError::new_err(
                "recipients holds no key to sign with: add the sender's VirgilKey (or use key.sign_then_encrypt)",
            )),
            _ => Err(PyValueError::new_err(
                "recipients holds more than one key: a message has one signer",
            )),
        }
    }

    /// Encrypts `message` for `recipients` (a Card or a list of Cards, lists may nest)
    /// without signing it: nobody can tell who sent it, and nobody but the recipients
    /// can read it, not even its sender (the Rust facade's `Virgil::encrypt`), under the
    /// deployment's policy (`require_post_quantum` in client.toml). Read it with
    /// `key.decrypt`.
    fn encrypt(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        recipients: &Bound<'_, PyAny>,
    ) -> PyResult<VirgilBuffer> {
        let message = bytes_of(message)?;
        let cards = crate::card::cards_of(recipients)?;
        py.detach(|| self.0.encrypt(&message, &cards))
            .map(VirgilBuffer)
            .map_err(to_py)
    }

    fn __repr__(&self) -> String {
        "Virgil(...)".to_owned()
    }
}

/// `virgil.keys`: the device's key store.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Keys(Shared);

#[pymethods]
impl Keys {
    /// A new key from the system's random generator (not saved: call `key.save`):
    /// `suite="classic"` (P-256, the default) or `"pq"` (post-quantum X-Wing).
    #[pyo3(signature = (suite="classic"))]
    fn generate(&self, suite: &str) -> PyResult<VirgilKey> {
        let suite = match suite {
            "classic" => virgil::Suite::Classic,
            "pq" => virgil::Suite::PostQuantum,
            other => {
                return Err(PyValueError::new_err(format!(
                    "suite must be \"classic\" or \"pq\", not {other:?}"
                )));
            }
        };
        let key = self.0.keys().generate_with_suite(suite).map_err(to_py)?;
        Ok(VirgilKey {
            key,
            virgil: self.0.clone(),
        })
    }

    /// The key saved under `name`, unlocked with `password`. Raises KeyNotFound or
    /// WrongPassword.
    #[pyo3(signature = (name, password=None))]
    fn load(&self, py: Python<'_>, name: &str, password: Option<&str>) -> PyResult<VirgilKey> {
        let key = py
            .detach(|| self.0.keys().load(name, password))
            .map_err(to_py)?;
        Ok(VirgilKey {
            key,
            virgil: self.0.clone(),
        })
    }

    /// Whether a key is saved under `name`.
    fn exists(&self, name: &str) -> PyResult<bool> {
        self.0.keys().exists(name).map_err(to_py)
    }

    /// The names of the saved keys.
    fn list(&self) -> PyResult<Vec<String>> {
        let listing = self.0.keys().list().map_err(to_py)?;
        Ok(listing
            .entries
            .into_iter()
            .map(|entry| entry.name.to_string())
            .collect())
    }

    /// Deletes key `name`: messages encrypted for it can no longer be read.
    fn delete(&self, name: &str) -> PyResult<()> {
        self.0.keys().delete(name).map_err(to_py)
    }

    /// Changes the password of key `name` (None: no password).
    #[pyo3(signature = (name, old, new))]
    fn change_password(
        &self,
        py: Python<'_>,
        name: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| self.0.keys().change_password(name, old, new))
            .map_err(to_py)
    }
}

/// `virgil.identities`.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Identities;

#[pymethods]
impl Identities {
    /// A user identity (type "user").
    fn create_user(&self, name: &str) -> Identity {
        Identity(virgil::Identities.create_user(name))
    }
}

/// An identity to create a card for.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Identity(virgil::Identity);

#[pymethods]
impl Identity {
    /// The identity, e.g. a user name.
    #[getter]
    fn value(&self) -> &str {
        &self.0.value
    }

    /// Its type, e.g. "user".
    #[getter]
    fn identity_type(&self) -> &str {
        &self.0.identity_type
    }

    fn __repr__(&self) -> String {
        format!(
            "Identity({:?}, type={:?})",
            self.0.value, self.0.identity_type
        )
    }
}

fn card_id(text: &str) -> PyResult<CardId> {
    text.trim()
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{text:?} is not a card id: {e}")))
}

/// `virgil.cards`.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Cards(Shared);

#[pymethods]
impl Cards {
    /// A self-signed card request for `identity` and `key`: export it and send it to
    /// your application server for approval.
    fn create(&self, identity: &Identity, key: &VirgilKey) -> PyResult<Card> {
        self.0
            .cards()
            .create(&identity.0, &key.key)
            .map(Card)
            .map_err(to_py)
    }

    /// Links `request` (a new card for an identity that has cards: another device, a
    /// new key) from `existing`, one of its active cards, with `existing`'s key; returns
    /// the linked request.
    fn link(&self, request: &Card, existing: &Card, key: &VirgilKey) -> PyResult<Card> {
        let mut linked = request.0.clone();
        self.0
            .cards()
            .link(&mut linked, &existing.0, &key.key)
            .map_err(to_py)?;
        Ok(Card(linked))
    }

    /// Reads an exported card or card request. With `verify=True` it must also carry
    /// valid application and cards-service signatures (a published card).
    #[pyo3(signature = (exported, *, verify=false))]
    fn import_card(&self, exported: &str, verify: bool) -> PyResult<Card> {
        let cards = self.0.cards();
        if verify {
            cards.import(exported)
        } else {
            virgil::Card::import(exported).map_err(virgil::Error::from)
        }
        .map(Card)
        .map_err(to_py)
    }

    /// Checks a card against the pinned keys (raises VerificationError).
    fn verify(&self, card: &Card) -> PyResult<()> {
        self.0.cards().verify(&card.0).map_err(to_py)
    }

    /// The active, verified cards of `identity` (a name or a list of names). Raises
    /// KeyChangeWarning if a contact's keys changed without a link (see
    /// `virgil.contacts.accept`).
    fn find(&self, py: Python<'_>, identity: &Bound<'_, PyAny>) -> PyResult<Vec<Card>> {
        let names: Vec<String> = if let Ok(name) = identity.cast::<PyString>() {
            vec![name.to_cow()?.into_owned()]
        } else {
            identity.extract()?
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        py.detach(|| self.0.cards().find(&names))
            .map(|found| found.into_cards().into_iter().map(Card).collect())
            .map_err(to_py)
    }

    /// A verified card by id, whatever its status (so old messages stay verifiable).
    fn get(&self, py: Python<'_>, id: &str) -> PyResult<Card> {
        let id = card_id(id)?;
        py.detach(|| self.0.cards().get(&id))
            .map(|found| Card(found.card))
            .map_err(to_py)
    }
}

/// `virgil.account`: the account on the application server.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Account(Shared);

#[pymethods]
impl Account {
    /// Registers `username` with `password`.
    fn register(&self, py: Python<'_>, username: &str, password: &str) -> PyResult<()> {
        py.detach(|| self.0.account().register(username, password))
            .map_err(to_py)
    }

    /// Logs in; the session is used for everything after.
    fn login(&self, py: Python<'_>, username: &str, password: &str) -> PyResult<()> {
        py.detach(|| self.0.account().login(username, password))
            .map(|_| ())
            .map_err(to_py)
    }

    /// Ends the session at the server.
    fn logout(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.0.account().logout()).map_err(to_py)
    }

    /// Changes the account password (the current one is checked again); every other
    /// session of the account ends.
    fn change_password(&self, py: Python<'_>, current: &str, new: &str) -> PyResult<()> {
        py.detach(|| self.0.account().change_password(current, new))
            .map_err(to_py)
    }

    /// The logged-in user's name, or None.
    #[getter]
    fn username(&self) -> Option<String> {
        self.0.account().session().map(|session| session.username)
    }

    /// Sends a card request (a Card, or its export) to the application server, which
    /// approves it for the logged-in user and publishes it; returns the published card.
    fn publish_card(&self, py: Python<'_>, card: &Bound<'_, PyAny>) -> PyResult<Card> {
        let request = match card.cast::<Card>() {
            Ok(card) => card.get().0.clone(),
            // A request: not yet signed by the application, so not verifiable here.
            Err(_) => virgil::Card::import(&card.extract::<String>()?)
                .map_err(|e| to_py(virgil::Error::from(e)))?,
        };
        py.detach(|| self.0.account().publish_card(&request))
            .map(|published| Card(published.card))
            .map_err(to_py)
    }
}

/// `virgil.backups`: the logged-in user's key backup (docs/security.md, "Key backup").
/// Every `backup` and `restore` spends one of the identity's limited password guesses.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Backups(Shared);

#[pymethods]
impl Backups {
    /// Backs `key` up under `password` (a backup password of its own). Replacing an
    /// existing backup needs `account_password`. Returns when it was stored.
    #[pyo3(signature = (key, password, account_password=None))]
    fn backup(
        &self,
        py: Python<'_>,
        key: &VirgilKey,
        password: &str,
        account_password: Option<&str>,
    ) -> PyResult<u64> {
        py.detach(|| {
            self.0
                .backups()
                .backup(&key.key, password, account_password)
        })
        .map_err(crate::errors::backup_to_py)
    }

    /// Restores the backed-up key with the backup password (save it with `key.save`).
    fn restore(&self, py: Python<'_>, password: &str) -> PyResult<VirgilKey> {
        py.detach(|| self.0.backups().restore(password))
            .map(|key| VirgilKey {
                key,
                virgil: self.0.clone(),
            })
            .map_err(crate::errors::backup_to_py)
    }

    /// A new backup password for the same key (the old one checked); needs the account
    /// password.
    fn change_password(
        &self,
        py: Python<'_>,
        old: &str,
        new: &str,
        account_password: &str,
    ) -> PyResult<()> {
        py.detach(|| self.0.backups().change_password(old, new, account_password))
            .map_err(crate::errors::backup_to_py)
    }

    /// Deletes the backup (the account password again).
    fn delete(&self, py: Python<'_>, account_password: &str) -> PyResult<()> {
        py.detach(|| self.0.backups().delete(account_password))
            .map_err(to_py)
    }

    /// `{"stored_at": int or None, "guesses": {"used", "free_per_window",
    /// "window_seconds", "total", "last_at", "next_at"}}`: more guesses than you made
    /// means someone is guessing.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let status = py.detach(|| self.0.backups().status()).map_err(to_py)?;
        let guesses = pyo3::types::PyDict::new(py);
        guesses.set_item("used", status.guesses.used)?;
        guesses.set_item("free_per_window", status.guesses.free_per_window)?;
        guesses.set_item("window_seconds", status.guesses.window_seconds)?;
        guesses.set_item("total", status.guesses.total)?;
        guesses.set_item("last_at", status.guesses.last_at)?;
        guesses.set_item("next_at", status.guesses.next_at)?;
        let answer = pyo3::types::PyDict::new(py);
        answer.set_item("stored_at", status.stored_at)?;
        answer.set_item("guesses", guesses)?;
        Ok(answer)
    }
}

/// `virgil.devices`: pairing a new device with a short code (docs/security.md,
/// "Pairing a device"). `join` runs on the new device, `pair` on one that has a card;
/// each blocks until the other side has answered (run them in different processes, or
/// threads).
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Devices(Shared);

fn seconds(timeout: f64) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(timeout)
        .map_err(|_| PyValueError::new_err("timeout must be a non-negative number of seconds"))
}

#[pymethods]
impl Devices {
    /// On the new device (logged in): opens a pairing for `key` (a new key, with no card
    /// yet), calls `show(code, uri, fingerprint)` so the user can type the code on their
    /// other device, then waits for it and returns this device's card, published and
    /// linked from the other's. A wrong code raises `PairingError` and ends the pairing.
    #[pyo3(signature = (key, show, timeout=600.0))]
    fn join(
        &self,
        py: Python<'_>,
        key: &VirgilKey,
        show: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<Card> {
        let timeout = seconds(timeout)?;
        let virgil = &self.0;
        let joining = py
            .detach(|| virgil.devices().join(&key.key))
            .map_err(to_py)?;
        show.call1((
            joining.code().to_string(),
            joining.code().uri(),
            joining.fingerprint(),
        ))?;
        py.detach(|| joining.wait(timeout))
            .map(|published| Card(published.card))
            .map_err(to_py)
    }

    /// On a device with a card (logged in): answers `code` (as the new device shows it),
    /// calls `confirm(fingerprint)` if given (return True when it matches the new
    /// device's screen; False declines), then links the new card from this device's card
    /// of `key` and publishes it. Returns the new card.
    #[pyo3(signature = (code, key, confirm=None, timeout=600.0))]
    fn pair(
        &self,
        py: Python<'_>,
        code: &str,
        key: &VirgilKey,
        confirm: Option<&Bound<'_, PyAny>>,
        timeout: f64,
    ) -> PyResult<Card> {
        let timeout = seconds(timeout)?;
        let virgil = &self.0;
        let request = py
            .detach(|| virgil.devices().pair(code, timeout))
            .map_err(to_py)?;
        if let Some(confirm) = confirm {
            let approved: bool = confirm.call1((request.fingerprint(),))?.is_truthy()?;
            if !approved {
                py.detach(|| request.decline()).map_err(to_py)?;
                return Err(crate::errors::PairingError::new_err(
                    "declined: the fingerprints differ; nothing was linked",
                ));
            }
        }
        py.detach(|| request.approve(&key.key))
            .map(|published| Card(published.card))
            .map_err(to_py)
    }
}

/// `virgil.messages`: the relay of the application server.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Messages(Shared);

/// A message from the inbox.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Received {
    /// The relay's message id.
    #[pyo3(get)]
    id: i64,
    /// The sender (as the relay says; the signature is what proves it).
    #[pyo3(get)]
    sender: String,
    /// When it was sent, seconds since the Unix epoch (as the relay says).
    #[pyo3(get)]
    sent_at: i64,
    message: Result<virgil::Buffer, String>,
}

#[pymethods]
impl Received {
    /// The decrypted, verified message, or None if it was refused (see `error`).
    #[getter]
    fn message(&self) -> Option<VirgilBuffer> {
        self.message.as_ref().ok().cloned().map(VirgilBuffer)
    }

    /// Why the message was refused (not for this key, not signed by the sender's card,
    /// damaged), or None.
    #[getter]
    fn error(&self) -> Option<String> {
        self.message.as_ref().err().cloned()
    }

    fn __repr__(&self) -> String {
        format!(
            "Received(id={}, sender={:?}, {})",
            self.id,
            self.sender,
            if self.message.is_ok() {
                "verified"
            } else {
                "refused"
            }
        )
    }
}

#[pymethods]
impl Messages {
    /// Signs `message` with `key`, encrypts it for every card of `to` and of the
    /// logged-in user, and relays it; returns the message id.
    fn send(
        &self,
        py: Python<'_>,
        to: &str,
        key: &VirgilKey,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<i64> {
        let message = bytes_of(message)?;
        py.detach(|| self.0.messages().send(to, &key.key, &message))
            .map(|sent| sent.id)
            .map_err(to_py)
    }

    /// The messages after `cursor` (0: from the start), each decrypted with `key` and
    /// verified against its sender's cards; returns (messages, next cursor).
    #[pyo3(signature = (key, cursor=0))]
    fn inbox(
        &self,
        py: Python<'_>,
        key: &VirgilKey,
        cursor: i64,
    ) -> PyResult<(Vec<Received>, i64)> {
        let read = py
            .detach(|| self.0.messages().inbox(&key.key, cursor))
            .map_err(to_py)?;
        let messages = read
            .messages
            .into_iter()
            .map(|received| Received {
                id: received.id,
                sender: received.from,
                sent_at: received.sent_at,
                message: received.message.map_err(|error| error.to_string()),
            })
            .collect();
        Ok((messages, read.cursor))
    }
}

/// `virgil.contacts`: the cards used per identity.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Contacts(Shared);

#[pymethods]
impl Contacts {
    /// Accepts `identity`'s current cards after a key change confirmed with them.
    fn accept(&self, py: Python<'_>, identity: &str) -> PyResult<()> {
        py.detach(|| self.0.contacts().accept(identity))
            .map(|_| ())
            .map_err(to_py)
    }

    /// Marks `identity` verified (safety numbers compared): a later key change of theirs
    /// is refused until verified again.
    fn trust(&self, py: Python<'_>, identity: &str) -> PyResult<()> {
        py.detach(|| self.0.contacts().trust(identity))
            .map(|_| ())
            .map_err(to_py)
    }

    /// The safety number of the logged-in user and `theirs` (60 digits in groups of
    /// five): the same on both sides' devices. This device's half comes from the cards
    /// it knows are its own, so a card swapped by the directory makes the numbers differ.
    fn safety_number(&self, py: Python<'_>, theirs: &str) -> PyResult<String> {
        py.detach(|| self.0.contacts().safety_number(theirs))
            .map(|number| number.to_string())
            .map_err(to_py)
    }
}
