//! Container registry auths: list (`GET /v1/repository/auths`), save
//! (`POST /v1/repository/auth/save`), delete (`POST /v1/repository/auth/delete`).
//! Passwords are [`Secret`]s: they print as `***`.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::validate::{self, ValidationErrors};
use super::{ApiError, Endpoint, get, lenient, list_under, post, success_json, success_unit};
use crate::http::{HttpRequest, HttpResponse};
use crate::secret::Secret;

/// A saved registry credential.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryAuth {
    /// Id, used as `imageAuthId` when creating an instance.
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    /// Name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Registry user name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub username: String,
    /// Registry password (never printed).
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub password: Option<Secret>,
}

/// `GET /v1/repository/auths` → every [`RegistryAuth`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRegistryAuths;

impl Endpoint for ListRegistryAuths {
    type Output = Vec<RegistryAuth>;

    fn name(&self) -> &'static str {
        "registry_auths.list"
    }

    fn request(&self) -> HttpRequest {
        get(String::from("/v1/repository/auths"))
    }

    fn parse(&self, response: &HttpResponse) -> Result<Vec<RegistryAuth>, ApiError> {
        let v = success_json(response)?;
        list_under(&v, "data", response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `POST /v1/repository/auth/save` with `{name, username, password}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRegistryAuth {
    /// Name (1–255 characters).
    pub name: String,
    /// Registry user name (1–511 characters).
    pub username: String,
    /// Registry password (1–1024 characters; never printed).
    pub password: Secret,
}

impl CreateRegistryAuth {
    /// Saves credentials `username` / `password` under `name`.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> CreateRegistryAuth {
        CreateRegistryAuth {
            name: name.into(),
            username: username.into(),
            password: password.into(),
        }
    }
}

impl Endpoint for CreateRegistryAuth {
    type Output = ();

    fn name(&self) -> &'static str {
        "registry_auths.create"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/repository/auth/save", self)
    }

    fn parse(&self, response: &HttpResponse) -> Result<(), ApiError> {
        success_unit(response)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::create_registry_auth(self)
    }
}

by_id_endpoint!(
    /// `POST /v1/repository/auth/delete` with `{id}`.
    DeleteRegistryAuth { id: "id", "The registry auth id." },
    "Deletes registry auth `id`.",
    "/v1/repository/auth/delete",
    "registry_auths.delete",
    (),
    success_unit
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn list_parses_and_never_prints_passwords() {
        let body = br#"{"data":[{"id":"r1","name":"docker","username":"me","password":"hunter2-very-secret"},{"id":"r2","name":"x","username":"y","password":{"x":1}}]}"#;
        let got = ListRegistryAuths
            .parse(&HttpResponse::new(200, body.to_vec()))
            .unwrap();
        assert_eq!(
            got[0].password.as_ref().map(Secret::expose),
            Some("hunter2-very-secret")
        );
        assert_eq!(got[1].password, None);
        let shown = format!("{got:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            ListRegistryAuths.request().path_and_query,
            "/v1/repository/auths"
        );
    }

    #[test]
    fn save_sends_the_password_but_never_shows_it() {
        let c = CreateRegistryAuth::new("docker", "me", "hunter2");
        let r = c.request();
        assert_eq!(r.path_and_query, "/v1/repository/auth/save");
        assert_eq!(
            r.body.as_deref(),
            Some(&br#"{"name":"docker","username":"me","password":"hunter2"}"#[..])
        );
        assert!(!format!("{c:?} {r:?}").contains("hunter2"));
        assert_eq!(c.parse(&HttpResponse::new(200, b"{}".to_vec())), Ok(()));
        let e = CreateRegistryAuth::new("", "", "").validate().unwrap_err();
        assert_eq!(e.0.len(), 3);
    }

    #[test]
    fn delete_posts_the_id() {
        let r = DeleteRegistryAuth::new("r1").request();
        assert_eq!(r.path_and_query, "/v1/repository/auth/delete");
        assert_eq!(r.body.as_deref(), Some(&br#"{"id":"r1"}"#[..]));
    }
}
