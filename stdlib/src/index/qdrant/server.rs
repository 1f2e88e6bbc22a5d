//! A connection to a Qdrant server: the calls rankbook makes, each blocking on
//! a runtime of the connection's own, each failure naming the server.

use std::future::Future;
use std::time::{Duration, Instant};

use qdrant_client::qdrant::{
    CollectionStatus, CreateCollection, DeleteCollection, GetCollectionInfoRequest,
    QueryBatchPoints, ScoredPoint, UpsertPoints,
};
use qdrant_client::{Qdrant, QdrantError};

use crate::error::{Error, Result};

/// How long one call may take (an upsert of a batch, a batch of queries).
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a freshly built collection may take to finish indexing.
const READY_TIMEOUT: Duration = Duration::from_secs(3600);

/// A Qdrant server reached over gRPC.
pub(crate) struct Server {
    url: String,
    client: Qdrant,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Connects to `url` (API key: `QDRANT_API_KEY`) and checks the server answers.
    pub fn connect(url: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::InvalidArgument(format!("Qdrant: starting its runtime: {e}")))?;
        let key = std::env::var("QDRANT_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        let client = {
            let _in = runtime.enter();
            // No compatibility check: it prints to stdout, where data goes.
            Qdrant::from_url(url)
                .api_key(key)
                .timeout(CALL_TIMEOUT)
                .connect_timeout(Duration::from_secs(10))
                .skip_compatibility_check()
                .build()
        }
        .map_err(|e| Error::InvalidArgument(format!("Qdrant at {url}: {e}")))?;
        let server = Self {
            url: url.to_string(),
            client,
            runtime,
        };
        server
            .call("connecting", server.client.health_check())
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "{e}\nhint: start a Qdrant server (gRPC port 6334) and point QDRANT_URL or the factory's url= at it"
                ))
            })?;
        Ok(server)
    }

    /// The server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn call<T>(
        &self,
        what: &str,
        future: impl Future<Output = std::result::Result<T, QdrantError>>,
    ) -> Result<T> {
        self.runtime
            .block_on(future)
            .map_err(|e| Error::InvalidArgument(format!("Qdrant at {}: {what}: {e}", self.url)))
    }

    /// Whether the collection `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        self.call(
            "looking up a collection",
            self.client.collection_exists(name),
        )
    }

    /// Creates the collection, replacing one of the same name if `replace`
    /// (refusing otherwise).
    pub fn create(&self, request: CreateCollection, replace: bool) -> Result<()> {
        let name = request.collection_name.clone();
        if self.exists(&name)? {
            if !replace {
                return Err(Error::InvalidArgument(format!(
                    "Qdrant at {}: collection {name:?} already exists; choose another collection= or delete it",
                    self.url
                )));
            }
            self.call(
                "deleting the old collection",
                self.client.delete_collection(DeleteCollection {
                    collection_name: name.clone(),
                    ..Default::default()
                }),
            )?;
        }
        self.call(
            "creating the collection",
            self.client.create_collection(request),
        )?;
        Ok(())
    }

    /// Stores a batch of points (waiting until they are written).
    pub fn upsert(&self, request: UpsertPoints) -> Result<()> {
        self.call("storing points", self.client.upsert_points(request))?;
        Ok(())
    }

    /// The number of points in `name`, once its optimizers are done (a graph
    /// asked for is then built).
    pub fn ready_count(&self, name: &str) -> Result<u64> {
        let start = Instant::now();
        loop {
            let info = self
                .call(
                    &format!("reading collection {name:?}"),
                    self.client.collection_info(GetCollectionInfoRequest {
                        collection_name: name.into(),
                    }),
                )?
                .result
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Qdrant at {}: no information on collection {name:?}",
                        self.url
                    ))
                })?;
            match CollectionStatus::try_from(info.status) {
                Ok(CollectionStatus::Green) => return Ok(info.points_count.unwrap_or(0)),
                Ok(CollectionStatus::Red) => {
                    return Err(Error::InvalidArgument(format!(
                        "Qdrant at {}: collection {name:?} is in an error state",
                        self.url
                    )));
                }
                _ if start.elapsed() > READY_TIMEOUT => {
                    return Err(Error::InvalidArgument(format!(
                        "Qdrant at {}: collection {name:?} still indexing after {} s",
                        self.url,
                        READY_TIMEOUT.as_secs()
                    )));
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Runs a batch of queries: the points found for each.
    pub fn query(&self, request: QueryBatchPoints) -> Result<Vec<Vec<ScoredPoint>>> {
        let n = request.query_points.len();
        let answer = self.call("searching", self.client.query_batch(request))?;
        if answer.result.len() != n {
            return Err(Error::InvalidArgument(format!(
                "Qdrant at {}: {} answers to {n} queries",
                self.url,
                answer.result.len()
            )));
        }
        Ok(answer.result.into_iter().map(|r| r.result).collect())
    }
}
