//! [`Novita`]: the typed async client of the Novita GPU-instance API.
//!
//! Every call goes the same way: the endpoint checks itself (a bad request
//! is never sent: [`Error::Validation`]), [`ApiContext::authorize`] adds the
//! credentials, the [`Driver`] runs it through the core's engine (queue,
//! limiter, breaker, retries, cache), and [`Error::result_of`] reads the
//! answer. Errors are the core's [`Error`], whose `Display` says what to do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use novitai_tokio::Novita;
//!
//! let novita = Novita::from_env()?; // NOVITA_API_KEY etc., from the environment and .env
//! for cluster in novita.clusters().await? {
//!     println!("{} {}", cluster.id, cluster.name);
//! }
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use novitai_core::api::clusters::{Cluster, ListClusters};
use novitai_core::api::instances::{
    CreateInstance, CreateInstanceRequest, DeleteInstance, EditInstance, GetInstance, Instance,
    InstanceAck, InstancePage, ListInstances, MigrateInstance, RestartInstance, StartInstance,
    StopInstance,
};
use novitai_core::api::paging::{InstancePager, PageStep, PagerConfigError};
use novitai_core::api::products::{ListProducts, Product, ProductChoice, ProductQuery};
use novitai_core::api::registry::{
    CreateRegistryAuth, DeleteRegistryAuth, ListRegistryAuths, RegistryAuth,
};
use novitai_core::api::storage::{
    CreateNetworkStorage, DeleteNetworkStorage, ListNetworkStorages, StoragePage,
    UpdateNetworkStorage,
};
use novitai_core::api::templates::{
    CreateTemplate, DeleteTemplate, GetTemplate, ListTemplates, NewTemplate, Template, TemplatePage,
};
use novitai_core::api::validate::{FieldProblem, Problem, ValidationErrors};
use novitai_core::api::{ApiContext, ApiContextError, Endpoint};
use novitai_core::config::{Config, ConfigErrors};
use novitai_core::engine::{EngineConfig, EngineStatus, RequestOptions};
use novitai_core::error::Error;
use novitai_core::http::Method;

use crate::driver::{DEFAULT_MAX_BODY_BYTES, Driver, DriverError, DriverOptions};

/// The `User-Agent` sent by default.
pub const USER_AGENT: &str = concat!("novitai-tokio/", env!("CARGO_PKG_VERSION"));

/// The most pages [`Novita::list_all_instances`] fetches (at the default 50
/// per page: 50 000 instances).
pub const MAX_INSTANCE_PAGES: u32 = 1000;

/// Why a [`Novita`] client could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The configuration is invalid; every problem is listed.
    Config(ConfigErrors),
    /// The `.env` file exists but could not be read.
    DotEnv(dotenvy::Error),
    /// The API key or user agent cannot be sent in a header.
    Context(ApiContextError),
    /// The driver could not start.
    Driver(DriverError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "the configuration is invalid:\n{e}"),
            BuildError::DotEnv(e) => write!(f, "the .env file could not be read: {e}"),
            BuildError::Context(e) => write!(f, "{e}"),
            BuildError::Driver(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::DotEnv(e) => Some(e),
            BuildError::Context(e) => Some(e),
            BuildError::Driver(e) => Some(e),
        }
    }
}

impl From<ConfigErrors> for BuildError {
    fn from(e: ConfigErrors) -> BuildError {
        BuildError::Config(e)
    }
}

/// Reads the configuration the way [`Novita::from_env`] does: the pairs of
/// `dotenv` (if given and present), then `env`, the later winning — so real
/// environment variables override the file. Nothing is written to the
/// process environment.
///
/// # Errors
/// [`BuildError::Config`] listing every problem, or [`BuildError::DotEnv`]
/// when the file exists but cannot be parsed.
pub fn config_from_sources(
    dotenv: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, BuildError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(path) = dotenv {
        match dotenvy::from_path_iter(path) {
            Ok(iter) => {
                for item in iter {
                    pairs.push(item.map_err(BuildError::DotEnv)?);
                }
            }
            Err(e) if e.not_found() => {}
            Err(e) => return Err(BuildError::DotEnv(e)),
        }
    }
    pairs.extend(env);
    Ok(Config::from_pairs(pairs)?)
}

/// The configuration from the process environment and a `.env` file in the
/// current directory (or a parent), environment first; see
/// [`config_from_sources`].
///
/// # Errors
/// As [`config_from_sources`].
pub fn config_from_env() -> Result<Config, BuildError> {
    let dotenv = dotenvy::dotenv_iter().ok();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(iter) = dotenv {
        for item in iter {
            pairs.push(item.map_err(BuildError::DotEnv)?);
        }
    }
    // Variables whose name or value is not UTF-8 cannot be ours.
    pairs.extend(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    Ok(Config::from_pairs(pairs)?)
}

/// Builds a [`Novita`] client.
///
/// # Default
/// - configuration: read from the environment and `.env`
///   ([`config_from_env`]) unless [`NovitaBuilder::config`] is given
/// - engine settings: [`EngineConfig::from_config`] of that configuration
/// - base URL: the configuration's `NOVITA_API_BASE_URL`
/// - seed: drawn from the operating system
/// - HTTP client: [`crate::driver::default_http_client`]
/// - body cap: [`DEFAULT_MAX_BODY_BYTES`] (16 MiB)
/// - user agent: [`USER_AGENT`]
/// - breaker share: none
#[derive(Debug, Default)]
#[must_use]
pub struct NovitaBuilder {
    config: Option<Config>,
    engine: Option<EngineConfig>,
    base_url: Option<String>,
    seed: Option<u64>,
    http: Option<reqwest::Client>,
    max_body_bytes: Option<usize>,
    user_agent: Option<String>,
    breaker_share: Option<Arc<dyn crate::BreakerShare>>,
}

impl NovitaBuilder {
    /// Uses this configuration instead of reading the environment.
    pub fn config(mut self, config: Config) -> NovitaBuilder {
        self.config = Some(config);
        self
    }

    /// Overrides the engine settings derived from the configuration (for
    /// settings the environment does not cover: jitter, retry budget,
    /// failure-rate breakers, GCRA limiting, ...).
    pub fn engine_config(mut self, engine: EngineConfig) -> NovitaBuilder {
        self.engine = Some(engine);
        self
    }

    /// Sends requests to this base URL instead of the configured one.
    pub fn base_url(mut self, url: impl Into<String>) -> NovitaBuilder {
        self.base_url = Some(url.into());
        self
    }

    /// Fixes the engine's seed (jitter, correlation ids) to replay a run.
    pub fn seed(mut self, seed: u64) -> NovitaBuilder {
        self.seed = Some(seed);
        self
    }

    /// Shares this reqwest client (its connection pool, proxy and TLS
    /// settings). It should not follow redirects.
    pub fn http_client(mut self, client: reqwest::Client) -> NovitaBuilder {
        self.http = Some(client);
        self
    }

    /// Fails an attempt whose response body is longer than this.
    pub fn max_body_bytes(mut self, bytes: usize) -> NovitaBuilder {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Shares the breaker's trips with other workers through `share`
    /// (e.g. `fleet::SharedTrip` with the `redis`
    /// feature); see [`crate::breaker_share`].
    pub fn breaker_share(mut self, share: Arc<dyn crate::BreakerShare>) -> NovitaBuilder {
        self.breaker_share = Some(share);
        self
    }

    /// Sends this `User-Agent`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> NovitaBuilder {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Starts the client. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`BuildError`]: an invalid configuration (every problem listed), an
    /// unreadable `.env`, or a driver that cannot start.
    pub fn build(self) -> Result<Novita, BuildError> {
        let config = match self.config {
            Some(c) => c,
            None => config_from_env()?,
        };
        let context = ApiContext::new(
            config.api_key.clone(),
            self.user_agent.unwrap_or_else(|| String::from(USER_AGENT)),
        )
        .map_err(BuildError::Context)?;
        let engine = self
            .engine
            .unwrap_or_else(|| EngineConfig::from_config(&config));
        let options = DriverOptions {
            base_url: self.base_url.unwrap_or_else(|| config.api_base_url.clone()),
            seed: self.seed,
            http: self.http,
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            breaker_share: self.breaker_share,
        };
        let driver = Driver::spawn(engine, options).map_err(BuildError::Driver)?;
        Ok(Novita {
            driver,
            context: Arc::new(context),
            config: Arc::new(config),
        })
    }
}

/// The Novita GPU-instance API, typed and async. Cheap to clone: clones
/// share one engine, one connection pool and one set of limits. When the
/// last clone is dropped, pending calls complete as cancelled and the driver
/// task exits.
#[derive(Clone, Debug)]
pub struct Novita {
    driver: Driver,
    context: Arc<ApiContext>,
    config: Arc<Config>,
}

impl Novita {
    /// A client configured from the process environment and a `.env` file
    /// (real environment variables win; the process environment is not
    /// changed). Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`BuildError::Config`] listing every missing or invalid variable, or
    /// another [`BuildError`].
    pub fn from_env() -> Result<Novita, BuildError> {
        NovitaBuilder::default().build()
    }

    /// A client for this configuration. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`BuildError`] when the driver cannot start.
    pub fn new(config: Config) -> Result<Novita, BuildError> {
        NovitaBuilder::default().config(config).build()
    }

    /// A builder (base URL, seed, HTTP client, body cap, engine settings).
    pub fn builder() -> NovitaBuilder {
        NovitaBuilder::default()
    }

    /// The configuration the client runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The driver underneath (raw requests, breaker control, seed).
    #[must_use]
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Calls one endpoint: validate, authorize, send through the engine,
    /// read the answer.
    ///
    /// # Errors
    /// Any [`Error`]: [`Error::Validation`] before sending, or how the
    /// request ended.
    pub async fn call<E: Endpoint>(&self, endpoint: E) -> Result<E::Output, Error> {
        endpoint.validate()?;
        let mut request = endpoint.request();
        self.context.authorize(&mut request);
        let changes = request.method != Method::Get;
        let options = RequestOptions::new()
            .cacheable(endpoint.is_cacheable())
            .idempotent(endpoint.is_idempotent());
        let done = self.driver.send(request, options).await?;
        let result = Error::result_of(&endpoint, &done);
        match &result {
            Ok(_) if changes => tracing::info!(
                endpoint = endpoint.name(),
                correlation_id = %done.correlation_id,
                attempts = done.attempts,
                "call succeeded"
            ),
            Ok(_) => tracing::debug!(
                endpoint = endpoint.name(),
                correlation_id = %done.correlation_id,
                from_cache = done.from_cache,
                "call succeeded"
            ),
            Err(e) => tracing::error!(
                endpoint = endpoint.name(),
                correlation_id = %done.correlation_id,
                error = %e,
                "call failed"
            ),
        }
        result
    }

    /// Whether the API answers: a cheap call (the cluster list).
    ///
    /// # Errors
    /// The [`Error`] of that call; `Ok(())` means healthy.
    pub async fn health_check(&self) -> Result<(), Error> {
        self.clusters().await.map(|_| ())
    }

    /// The engine's state: queue, in flight, breaker, limiter, retry budget,
    /// cache.
    ///
    /// # Errors
    /// [`Error::Rejected`] after [`Novita::shutdown`].
    pub async fn status(&self) -> Result<EngineStatus, Error> {
        Ok(self.driver.status().await?)
    }

    /// Completes every pending call as [`Error::Cancelled`] and stops the
    /// driver; later calls fail with [`Error::Rejected`]. Affects every
    /// clone.
    pub async fn shutdown(&self) {
        self.driver.shutdown().await;
    }

    // ---- clusters and products ------------------------------------------

    /// `GET /v1/clusters`: every cluster (cached when `CACHE_ENABLED`).
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn clusters(&self) -> Result<Vec<Cluster>, Error> {
        self.call(ListClusters).await
    }

    /// `GET /v1/products` with filters.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn products(&self, filter: ListProducts) -> Result<Vec<Product>, Error> {
        self.call(filter).await
    }

    /// The cheapest deployable product named like `query.name`, trying its
    /// regions in order (core's
    /// [`choose_product`](novitai_core::api::products::choose_product) over
    /// a products call filtered by name).
    ///
    /// # Errors
    /// [`Error::NoProduct`] when nothing fits, or the products call's error.
    pub async fn optimal_product(&self, query: &ProductQuery) -> Result<ProductChoice, Error> {
        let filter = if query.name.trim().is_empty() {
            ListProducts::default()
        } else {
            ListProducts::named(query.name.trim())
        };
        let products = self.products(filter).await?;
        Ok(novitai_core::api::products::choose_product(
            &products, query,
        )?)
    }

    // ---- templates ------------------------------------------------------

    /// `GET /v1/templates`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn templates(&self, query: ListTemplates) -> Result<TemplatePage, Error> {
        self.call(query).await
    }

    /// `GET /v1/template?templateId=`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn template(&self, template_id: impl Into<String>) -> Result<Template, Error> {
        self.call(GetTemplate::new(template_id)).await
    }

    /// `POST /v1/template/create`; returns the new template's id.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn create_template(&self, template: NewTemplate) -> Result<String, Error> {
        self.call(CreateTemplate { template }).await
    }

    /// `POST /v1/template/delete`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn delete_template(&self, template_id: impl Into<String>) -> Result<(), Error> {
        self.call(DeleteTemplate::new(template_id)).await
    }

    // ---- registry auths -------------------------------------------------

    /// `GET /v1/repository/auths`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn registry_auths(&self) -> Result<Vec<RegistryAuth>, Error> {
        self.call(ListRegistryAuths).await
    }

    /// `POST /v1/repository/auth/save`. The password is a secret: it is
    /// sent, never logged.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn create_registry_auth(&self, auth: CreateRegistryAuth) -> Result<(), Error> {
        self.call(auth).await
    }

    /// `POST /v1/repository/auth/delete`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn delete_registry_auth(&self, id: impl Into<String>) -> Result<(), Error> {
        self.call(DeleteRegistryAuth::new(id)).await
    }

    // ---- instances ------------------------------------------------------

    /// `GET /v1/gpu/instances`: one page.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn instances(&self, query: ListInstances) -> Result<InstancePage, Error> {
        self.call(query).await
    }

    /// Every instance matching `query`, page by page from `query.page_num`
    /// (core's [`InstancePager`]; at most [`MAX_INSTANCE_PAGES`] pages).
    ///
    /// # Errors
    /// The first failed page's [`Error`]; a page size of 0 is
    /// [`Error::Validation`].
    pub async fn list_all_instances(&self, query: ListInstances) -> Result<Vec<Instance>, Error> {
        let mut pager = InstancePager::new(query, MAX_INSTANCE_PAGES).map_err(pager_error)?;
        while let Some(request) = pager.request() {
            let page = self.call(request).await?;
            if let PageStep::Done(_) = pager.on_page(page) {
                break;
            }
        }
        Ok(pager.into_instances())
    }

    /// `GET /v1/gpu/instance?instanceId=`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn instance(&self, instance_id: impl Into<String>) -> Result<Instance, Error> {
        self.call(GetInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/create`; returns the new instance's id. Not
    /// idempotent: retried only when the server certainly did not act.
    ///
    /// # Errors
    /// Any [`Error`]; [`Error::Validation`] lists every bad field.
    pub async fn create_instance(&self, request: CreateInstanceRequest) -> Result<String, Error> {
        self.call(CreateInstance(request)).await
    }

    /// `POST /v1/gpu/instance/start`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn start_instance(
        &self,
        instance_id: impl Into<String>,
    ) -> Result<InstanceAck, Error> {
        self.call(StartInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/stop`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn stop_instance(
        &self,
        instance_id: impl Into<String>,
    ) -> Result<InstanceAck, Error> {
        self.call(StopInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/restart`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn restart_instance(
        &self,
        instance_id: impl Into<String>,
    ) -> Result<InstanceAck, Error> {
        self.call(RestartInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/delete`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn delete_instance(
        &self,
        instance_id: impl Into<String>,
    ) -> Result<InstanceAck, Error> {
        self.call(DeleteInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/migrate`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn migrate_instance(
        &self,
        instance_id: impl Into<String>,
    ) -> Result<InstanceAck, Error> {
        self.call(MigrateInstance::new(instance_id)).await
    }

    /// `POST /v1/gpu/instance/edit` (ports, root disk).
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn edit_instance(&self, edit: EditInstance) -> Result<(), Error> {
        self.call(edit).await
    }

    // ---- network storage ------------------------------------------------

    /// `GET /v1/networkstorages/list`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn network_storages(&self, query: ListNetworkStorages) -> Result<StoragePage, Error> {
        self.call(query).await
    }

    /// `POST /v1/networkstorage/create`; returns the new storage's id when
    /// the server reports it.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn create_network_storage(
        &self,
        storage: CreateNetworkStorage,
    ) -> Result<Option<String>, Error> {
        self.call(storage).await
    }

    /// `POST /v1/networkstorage/update`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn update_network_storage(&self, update: UpdateNetworkStorage) -> Result<(), Error> {
        self.call(update).await
    }

    /// `POST /v1/networkstorage/delete`.
    ///
    /// # Errors
    /// Any [`Error`].
    pub async fn delete_network_storage(&self, storage_id: impl Into<String>) -> Result<(), Error> {
        self.call(DeleteNetworkStorage::new(storage_id)).await
    }
}

fn pager_error(e: PagerConfigError) -> Error {
    let field = match e {
        PagerConfigError::ZeroPageSize => "pageSize",
        PagerConfigError::ZeroMaxPages => "maxPages",
    };
    Error::Validation(ValidationErrors(vec![FieldProblem {
        field: String::from(field),
        problem: Problem::OutOfRange {
            min: 1,
            max: u64::from(u32::MAX),
            value: 0,
        },
    }]))
}
