//! Templates: list (`GET /v1/templates`), get (`GET /v1/template`), create
//! and delete (`POST /v1/template/create`, `/v1/template/delete`).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::instances::EnvVar;
use super::validate::{self, ValidationErrors};
use super::{
    ApiError, Endpoint, PathQuery, decode, get, lenient, list_under, post, success_json,
    success_unit, top_string, top_u64,
};
use crate::http::{HttpRequest, HttpResponse};

/// Ports of one type exposed by a template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatePorts {
    /// `http`, `tcp` or `udp`.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    /// The port numbers.
    #[serde(default, deserialize_with = "lenient::u64_list")]
    pub ports: Vec<u64>,
}

/// A template as the server returns it. (The server spells the id `Id`; a
/// lower-case `id` is accepted too.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// Template id.
    #[serde(rename = "Id", default, deserialize_with = "lenient::string")]
    pub id: String,
    /// Name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// `instance` or `serverless`.
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// `private`, `community` or `official`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub channel: Option<String>,
    /// README (Markdown).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub readme: Option<String>,
    /// Container image.
    #[serde(default, deserialize_with = "lenient::string")]
    pub image: String,
    /// Id of the registry auth used to pull the image.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image_auth: Option<String>,
    /// Start command.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub start_command: Option<String>,
    /// Entrypoint.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub entrypoint: Option<String>,
    /// Root filesystem size, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub rootfs_size: Option<u64>,
    /// Exposed ports, grouped by type.
    #[serde(default, deserialize_with = "lenient::vec_of")]
    pub ports: Vec<TemplatePorts>,
    /// Environment variables (values are secrets).
    #[serde(default, deserialize_with = "lenient::vec_of")]
    pub envs: Vec<EnvVar>,
    /// Minimum CUDA version.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub min_cuda_version: Option<String>,
}

/// Moves a lower-case `id` to `Id` when `Id` is missing.
fn normalize_id(v: &mut Value) {
    if let Value::Object(map) = v
        && !map.contains_key("Id")
        && let Some(id) = map.remove("id")
    {
        map.insert(String::from("Id"), id);
    }
}

fn templates_of(v: &mut Value, key: &str) {
    if let Some(Value::Array(items)) = v.get_mut(key) {
        items.iter_mut().for_each(normalize_id);
    }
}

/// A page of templates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatePage {
    /// The templates on this page.
    pub templates: Vec<Template>,
    /// Total number of templates, if the server said.
    pub total: Option<u64>,
    /// The page size the server used, if it said.
    pub page_size: Option<u64>,
    /// The page number the server returned, if it said.
    pub page_num: Option<u64>,
}

/// `GET /v1/templates` → a [`TemplatePage`].
///
/// # Default
/// No filters, no paging parameters (server defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTemplates {
    /// Page size.
    pub page_size: Option<u32>,
    /// Page number (from 1).
    pub page_num: Option<u32>,
    /// Name filter.
    pub name: Option<String>,
    /// `instance` or `serverless`.
    pub kind: Option<String>,
    /// Channels (`private`, `community`, `official`), sent comma-separated.
    pub channels: Vec<String>,
}

impl Endpoint for ListTemplates {
    type Output = TemplatePage;

    fn name(&self) -> &'static str {
        "templates.list"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/templates");
        q.opt_num("pageSize", self.page_size.map(u64::from))
            .opt_num("pageNum", self.page_num.map(u64::from))
            .opt_str("name", self.name.as_deref())
            .opt_str("type", self.kind.as_deref());
        if !self.channels.is_empty() {
            q.push("channel", &self.channels.join(","));
        }
        get(q.finish())
    }

    fn parse(&self, response: &HttpResponse) -> Result<TemplatePage, ApiError> {
        let mut v = success_json(response)?;
        templates_of(&mut v, "template");
        templates_of(&mut v, "templates");
        let key = if v.get("template").is_some() {
            "template"
        } else {
            "templates"
        };
        Ok(TemplatePage {
            templates: list_under(&v, key, response)?,
            total: top_u64(&v, "total"),
            page_size: top_u64(&v, "pageSize"),
            page_num: top_u64(&v, "pageNum"),
        })
    }

    fn is_cacheable(&self) -> bool {
        true
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /v1/template?templateId=` → one [`Template`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTemplate {
    /// The template id.
    pub template_id: String,
}

impl GetTemplate {
    /// Gets template `template_id`.
    #[must_use]
    pub fn new(template_id: impl Into<String>) -> GetTemplate {
        GetTemplate {
            template_id: template_id.into(),
        }
    }
}

impl Endpoint for GetTemplate {
    type Output = Template;

    fn name(&self) -> &'static str {
        "templates.get"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/template");
        q.push("templateId", &self.template_id);
        get(q.finish())
    }

    fn parse(&self, response: &HttpResponse) -> Result<Template, ApiError> {
        let v = success_json(response)?;
        let Some(mut t) = v.get("template").cloned().filter(Value::is_object) else {
            return Err(ApiError::decode(
                response,
                "the response has no `template` object",
            ));
        };
        normalize_id(&mut t);
        let mut template: Template = decode(&t, response)?;
        if template.id.is_empty() {
            template.id.clone_from(&self.template_id);
        }
        Ok(template)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::id("templateId", &self.template_id)
    }

    fn is_cacheable(&self) -> bool {
        true
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// The body of a new template.
///
/// # Default
/// `type` = `"instance"`, `channel` = `"private"`, `rootfsSize` = 60, no
/// ports, no envs, everything else empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTemplate {
    /// Name (unique, at most 255 characters).
    pub name: String,
    /// `instance` or `serverless`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `private` or `community`.
    pub channel: String,
    /// README (Markdown, at most 20480 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    /// Container image (at most 500 characters).
    pub image: String,
    /// Id of a registry auth for a private image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_auth: Option<String>,
    /// Start command (at most 2047 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_command: Option<String>,
    /// Entrypoint (at most 2047 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// Root filesystem size, GB (10–6144).
    pub rootfs_size: u64,
    /// Ports by type (at most 15 in all).
    pub ports: Vec<TemplatePorts>,
    /// Environment variables (at most 100).
    pub envs: Vec<EnvVar>,
    /// Minimum CUDA version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_cuda_version: Option<String>,
}

impl Default for NewTemplate {
    fn default() -> NewTemplate {
        NewTemplate {
            name: String::new(),
            kind: String::from("instance"),
            channel: String::from("private"),
            readme: None,
            image: String::new(),
            image_auth: None,
            start_command: None,
            entrypoint: None,
            rootfs_size: 60,
            ports: Vec::new(),
            envs: Vec::new(),
            min_cuda_version: None,
        }
    }
}

/// `POST /v1/template/create` with `{template: {...}}` → the new template id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTemplate {
    /// The template to create.
    pub template: NewTemplate,
}

impl Endpoint for CreateTemplate {
    type Output = String;

    fn name(&self) -> &'static str {
        "templates.create"
    }

    fn request(&self) -> HttpRequest {
        post("/v1/template/create", self)
    }

    fn parse(&self, response: &HttpResponse) -> Result<String, ApiError> {
        let v = success_json(response)?;
        top_string(&v, "templateId")
            .or_else(|| top_string(&v, "id"))
            .ok_or_else(|| ApiError::decode(response, "the response has no `templateId`"))
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        validate::new_template(&self.template)
    }
}

by_id_endpoint!(
    /// `POST /v1/template/delete` with `{templateId}`.
    DeleteTemplate { template_id: "templateId", "The template id." },
    "Deletes template `template_id`.",
    "/v1/template/delete",
    "templates.delete",
    (),
    success_unit
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiErrorKind;
    use crate::http::Method;
    use alloc::format;
    use alloc::vec;

    fn ok(body: &str) -> HttpResponse {
        HttpResponse::new(200, body.as_bytes().to_vec())
    }

    #[test]
    fn list_builds_query_and_reads_a_page() {
        let r = ListTemplates {
            page_size: Some(20),
            page_num: Some(1),
            name: Some(String::from("py torch")),
            kind: Some(String::from("instance")),
            channels: vec![String::from("private"), String::from("official")],
        }
        .request();
        assert_eq!(
            r.path_and_query,
            "/v1/templates?pageSize=20&pageNum=1&name=py%20torch&type=instance&channel=private%2Cofficial"
        );
        let page = ListTemplates::default()
            .parse(&ok(
                r#"{"template":[{"Id":"t1","name":"a","image":"img","rootfsSize":"60",
                "ports":[{"type":"http","ports":["8888",7860]}],"envs":[{"key":"K","value":"V"}]},
                {"id":"t2","name":"b"}],"pageSize":"20","pageNum":1,"total":"2"}"#,
            ))
            .unwrap();
        assert_eq!(page.total, Some(2));
        assert_eq!(page.page_size, Some(20));
        assert_eq!(page.templates[0].id, "t1");
        assert_eq!(page.templates[0].ports[0].ports, vec![8888, 7860]);
        assert_eq!(page.templates[1].id, "t2");
    }

    #[test]
    fn get_reads_capital_id_and_fills_a_missing_one() {
        let g = GetTemplate::new("t 1");
        assert_eq!(g.request().path_and_query, "/v1/template?templateId=t%201");
        let t = g
            .parse(&ok(
                r#"{"template":{"Id":"t1","name":"n","image":"i","rootfsSize":{"bad":1}}}"#,
            ))
            .unwrap();
        assert_eq!(t.id, "t1");
        assert_eq!(t.rootfs_size, None);
        let t = g.parse(&ok(r#"{"template":{"name":"n"}}"#)).unwrap();
        assert_eq!(t.id, "t 1");
        let e = g.parse(&ok(r#"{"template":null}"#)).unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::Decode);
        assert!(GetTemplate::new("").validate().is_err());
    }

    #[test]
    fn create_sends_the_template_and_returns_its_id() {
        let c = CreateTemplate {
            template: NewTemplate {
                name: String::from("my-template"),
                image: String::from("pytorch/pytorch:latest"),
                ports: vec![TemplatePorts {
                    kind: String::from("http"),
                    ports: vec![8888],
                }],
                envs: vec![EnvVar::new("HF_TOKEN", "hf_secret")],
                ..NewTemplate::default()
            },
        };
        assert_eq!(c.validate(), Ok(()));
        let r = c.request();
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.path_and_query, "/v1/template/create");
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"template":{"name":"my-template","type":"instance","channel":"private",
                "image":"pytorch/pytorch:latest","rootfsSize":60,
                "ports":[{"type":"http","ports":[8888]}],"envs":[{"key":"HF_TOKEN","value":"hf_secret"}]}})
        );
        assert!(!format!("{c:?}").contains("hf_secret"));
        assert_eq!(c.parse(&ok(r#"{"templateId":"t9"}"#)).unwrap(), "t9");
        assert_eq!(c.parse(&ok(r#"{"templateId":123}"#)).unwrap(), "123");
        assert_eq!(c.parse(&ok("{}")).unwrap_err().kind, ApiErrorKind::Decode);
    }

    #[test]
    fn create_lists_every_template_problem() {
        let c = CreateTemplate {
            template: NewTemplate {
                kind: String::from("vm"),
                rootfs_size: 5,
                ports: vec![TemplatePorts {
                    kind: String::from("sctp"),
                    ports: vec![0, 2223],
                }],
                ..NewTemplate::default()
            },
        };
        let e = c.validate().unwrap_err();
        for f in [
            "template.name",
            "template.type",
            "template.image",
            "template.rootfsSize",
            "template.ports[0].type",
            "template.ports[0].ports[0]",
            "template.ports[0].ports[1]",
        ] {
            assert!(e.mentions(f), "{f} missing from {e}");
        }
    }

    #[test]
    fn delete_posts_the_id_and_accepts_any_success_body() {
        let d = DeleteTemplate::new("t1");
        let r = d.request();
        assert_eq!(r.path_and_query, "/v1/template/delete");
        assert_eq!(r.body.as_deref(), Some(&br#"{"templateId":"t1"}"#[..]));
        assert_eq!(d.parse(&ok("")), Ok(()));
        assert_eq!(d.parse(&ok(r#"{"templateId":"t1"}"#)), Ok(()));
        let e = d
            .parse(&HttpResponse::new(
                400,
                br#"{"reason":"TEMPLATE_NOT_FOUND"}"#.to_vec(),
            ))
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::TemplateNotFound);
    }
}
