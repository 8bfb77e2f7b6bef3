//! Network storage: list (`GET /v1/networkstorages/list`), create, update,
//! delete (`POST /v1/networkstorage/create|update|delete`).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::validate::{self, ValidationErrors};
use super::{
    ApiError, Endpoint, PathQuery, get, lenient, list_under, post, success_json, success_unit,
    top_string, top_u64,
};
use crate::http::{HttpRequest, HttpResponse};

/// A network storage volume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStorage {
    /// Storage id (mount it with this id).
    #[serde(default, deserialize_with = "lenient::string")]
    pub storage_id: String,
    /// Name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub storage_name: Option<String>,
    /// Size, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub storage_size: Option<u64>,
    /// Cluster id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cluster_id: Option<String>,
    /// Cluster name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cluster_name: Option<String>,
    /// Price as sent (unit **uncertain**, so kept as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub price: Option<String>,
}

/// A page of network storages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePage {
    /// The storages on this page.
    pub storages: Vec<NetworkStorage>,
    /// Total number, if the server said.
    pub total: Option<u64>,
}

/// `GET /v1/networkstorages/list` → a [`StoragePage`].
///
/// # Default
/// No paging parameters or filters (server defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListNetworkStorages {
    /// Page number, from 1.
    pub page_no: Option<u32>,
    /// Page size.
    pub page_size: Option<u32>,
    /// Name filter.
    pub storage_name: Option<String>,
    /// Id filter.
    pub storage_id: Option<String>,
}

impl Endpoint for ListNetworkStorages {
    type Output = StoragePage;

    fn name(&self) -> &'static str {
        "network_storages.list"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/networkstorages/list");
        q.opt_num("pageNo", self.page_no.map(u64::from))
            .opt_num("pageSize", self.page_size.map(u64::from))
            .opt_str("storageName", self.storage_name.as_deref())
            .opt_str("storageId", self.storage_id.as_deref());
        get(q.finish())
    }

    fn parse(&self, response: &HttpResponse) -> Result<StoragePage, ApiError> {
        let v = success_json(response)?;
        Ok(StoragePage {
            storages: list_under(&v, "data", response)?,
            total: top_u64(&v, "total"),
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `POST /v1/networkstorage/create` with `{clusterId, storageName,
/// storageSize}` → the new storage id, when the server returns one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateNetworkStorage {
    /// Cluster (must support network storage).
    pub cluster_id: String,
    /// Name (1–255 characters).
    pub storage_name: String,
    /// Size, GB (at least 10).
    pub storage_size: u64,
}

impl Endpoint for CreateNetworkStorage {
    type Output = Option<String>;

    fn name(&self) -> &'static str {
        "network_storages.create"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/networkstorage/create", self)
    }

    fn parse(&self, response: &HttpResponse) -> Result<Option<String>, ApiError> {
        success_unit(response)?;
        let v: serde_json::Value =
            serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
        Ok(top_string(&v, "storageId").or_else(|| top_string(&v, "id")))
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::create_storage(self)
    }
}

/// `POST /v1/networkstorage/update` with `{storageId, storageName?,
/// storageSize?}` (a new size must be larger than the current one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateNetworkStorage {
    /// The storage id.
    pub storage_id: String,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_name: Option<String>,
    /// New size, GB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_size: Option<u64>,
}

impl Endpoint for UpdateNetworkStorage {
    type Output = ();

    fn name(&self) -> &'static str {
        "network_storages.update"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/networkstorage/update", self)
    }

    fn parse(&self, response: &HttpResponse) -> Result<(), ApiError> {
        success_unit(response)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::update_storage(self)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

by_id_endpoint!(
    /// `POST /v1/networkstorage/delete` with `{storageId}`.
    DeleteNetworkStorage { storage_id: "storageId", "The storage id." },
    "Deletes storage `storage_id`.",
    "/v1/networkstorage/delete",
    "network_storages.delete",
    (),
    success_unit
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiErrorKind;
    use alloc::vec;

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(200, body.as_bytes().to_vec())
    }

    #[test]
    fn list_builds_query_and_parses_the_page() {
        let l = ListNetworkStorages {
            page_no: Some(1),
            page_size: Some(10),
            storage_name: Some(String::from("data")),
            storage_id: None,
        };
        assert_eq!(
            l.request().path_and_query,
            "/v1/networkstorages/list?pageNo=1&pageSize=10&storageName=data"
        );
        let page = l
            .parse(&ok(
                r#"{"data":[{"storageId":"s1","storageName":"data","storageSize":"100",
                "clusterId":"c1","clusterName":"AS-SGP-02","price":"0.07"}],"total":"1"}"#,
            ))
            .unwrap();
        assert_eq!(page.total, Some(1));
        assert_eq!(page.storages[0].storage_size, Some(100));
        assert_eq!(page.storages[0].price.as_deref(), Some("0.07"));
    }

    #[test]
    fn create_update_delete_bodies() {
        let c = CreateNetworkStorage {
            cluster_id: String::from("c1"),
            storage_name: String::from("data"),
            storage_size: 100,
        };
        assert_eq!(c.validate(), Ok(()));
        let r = c.request();
        assert_eq!(r.path_and_query, "/v1/networkstorage/create");
        assert_eq!(
            r.body.as_deref(),
            Some(&br#"{"clusterId":"c1","storageName":"data","storageSize":100}"#[..])
        );
        assert_eq!(
            c.parse(&ok(r#"{"storageId":"s1"}"#)),
            Ok(Some(String::from("s1")))
        );
        assert_eq!(c.parse(&ok("")), Ok(None));

        let u = UpdateNetworkStorage {
            storage_id: String::from("s1"),
            storage_name: None,
            storage_size: Some(200),
        };
        assert_eq!(
            u.request().body.as_deref(),
            Some(&br#"{"storageId":"s1","storageSize":200}"#[..])
        );
        assert_eq!(u.request().path_and_query, "/v1/networkstorage/update");

        let d = DeleteNetworkStorage::new("s1");
        assert_eq!(d.request().path_and_query, "/v1/networkstorage/delete");
        assert_eq!(
            d.request().body.as_deref(),
            Some(&br#"{"storageId":"s1"}"#[..])
        );
        let e = d
            .parse(&HttpResponse::new(
                404,
                br#"{"message":"storage not found"}"#.to_vec(),
            ))
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::NotFound);
    }

    #[test]
    fn storage_bodies_are_checked() {
        let e = CreateNetworkStorage {
            cluster_id: String::new(),
            storage_name: String::from(" "),
            storage_size: 5,
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            e.0.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(),
            vec!["clusterId", "storageName", "storageSize"]
        );
        let e = UpdateNetworkStorage {
            storage_id: String::from("s1"),
            ..UpdateNetworkStorage::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.mentions("storageSize"));
    }
}
