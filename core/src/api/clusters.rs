//! Clusters (`GET /v1/clusters`): the regions instances can run in.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::{ApiError, Endpoint, fast, get, lenient, list_under, success_json};
use crate::http::{HttpRequest, HttpResponse};

/// A cluster (region).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Cluster id, used as `clusterId` elsewhere.
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    /// Display name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// GPU types available in the cluster.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub available_gpu_type: Vec<String>,
    /// Whether network storage can be created here.
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    pub support_network_storage: bool,
    /// Whether instance networks are supported here.
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    pub support_instance_network: bool,
}

/// `GET /v1/clusters` → every [`Cluster`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListClusters;

impl Endpoint for ListClusters {
    type Output = Vec<Cluster>;

    fn name(&self) -> &'static str {
        "clusters.list"
    }

    fn request(&self) -> HttpRequest {
        get(String::from("/v1/clusters"))
    }

    fn parse(&self, response: &HttpResponse) -> Result<Vec<Cluster>, ApiError> {
        if let Some((clusters, _)) = fast::list(response, &["data"]) {
            return Ok(clusters);
        }
        let v = success_json(response)?;
        list_under(&v, "data", response)
    }

    fn is_cacheable(&self) -> bool {
        true
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiErrorKind;
    use crate::http::Method;

    #[test]
    fn lists_clusters() {
        let r = ListClusters.request();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path_and_query, "/v1/clusters");
        assert_eq!(r.headers.get("content-type"), Some("application/json"));
        assert!(r.body.is_none());
        let body = br#"{"data":[{"id":"c1","name":"AS-SGP-02","availableGpuType":["RTX 4090"],"supportNetworkStorage":true,"supportInstanceNetwork":"false"},{"id":2}]}"#;
        let got = ListClusters
            .parse(&HttpResponse::new(200, body.to_vec()))
            .unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].support_network_storage);
        assert!(!got[0].support_instance_network);
        assert_eq!(got[1].id, "2");
        assert_eq!(got[1].name, "");
    }

    #[test]
    fn a_body_without_data_is_a_decode_error() {
        let e = ListClusters
            .parse(&HttpResponse::new(200, br#"{"items":[]}"#.to_vec()))
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::Decode);
        let ok = ListClusters
            .parse(&HttpResponse::new(200, br#"{"data":null}"#.to_vec()))
            .unwrap();
        assert!(ok.is_empty());
    }
}
