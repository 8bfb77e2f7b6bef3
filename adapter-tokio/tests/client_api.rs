//! Every typed method of `Novita` once, against the simulator over
//! loopback: templates, registry auths and network storage from create to
//! delete, and the instance actions the lifecycle tests do not reach.
#![cfg(feature = "sim")]

use std::time::Duration;

use novitai_core::api::instances::{CreateInstanceRequest, EditInstance, EditPort, InstanceStatus};
use novitai_core::api::registry::CreateRegistryAuth;
use novitai_core::api::storage::{CreateNetworkStorage, ListNetworkStorages, UpdateNetworkStorage};
use novitai_core::api::templates::{ListTemplates, NewTemplate};
use novitai_tokio::Novita;
use novitai_tokio::sim_server::SimServerHandle;

const KEY: &str = "sk_sim_client_api";
const PRODUCT: &str = "rtx-4090-24gb.cn-hk-01";

mod common;

async fn sim() -> SimServerHandle {
    common::sim::sim_server(5, KEY).await
}

fn client(s: &SimServerHandle) -> Novita {
    common::sim::sim_client(s, KEY, 5)
}

#[tokio::test]
async fn a_template_is_created_read_listed_and_deleted() {
    let s = sim().await;
    let novita = client(&s);
    let id = novita
        .create_template(NewTemplate {
            name: "api-test-template".to_owned(),
            image: "nginx:latest".to_owned(),
            ..NewTemplate::default()
        })
        .await
        .unwrap();
    assert_eq!(
        novita.template(id.as_str()).await.unwrap().name,
        "api-test-template"
    );
    let page = novita.templates(ListTemplates::default()).await.unwrap();
    assert!(page.templates.iter().any(|t| t.id == id));
    novita.delete_template(id.as_str()).await.unwrap();
    assert!(novita.template(id.as_str()).await.is_err());
}

#[tokio::test]
async fn a_registry_auth_is_saved_listed_and_deleted() {
    let s = sim().await;
    let novita = client(&s);
    novita
        .create_registry_auth(CreateRegistryAuth::new(
            "api-test-registry",
            "me",
            "hunter2",
        ))
        .await
        .unwrap();
    let auths = novita.registry_auths().await.unwrap();
    let auth = auths
        .iter()
        .find(|a| a.name == "api-test-registry")
        .expect("the saved auth is listed");
    novita.delete_registry_auth(auth.id.as_str()).await.unwrap();
    let auths = novita.registry_auths().await.unwrap();
    assert!(auths.iter().all(|a| a.name != "api-test-registry"));
}

#[tokio::test]
async fn a_network_storage_is_created_listed_updated_and_deleted() {
    let s = sim().await;
    let novita = client(&s);
    let cluster = novita.clusters().await.unwrap()[0].id.clone();
    novita
        .create_network_storage(CreateNetworkStorage {
            cluster_id: cluster,
            storage_name: "api-test-storage".to_owned(),
            storage_size: 10,
        })
        .await
        .unwrap();
    let named = |name: &str| ListNetworkStorages {
        storage_name: Some(name.to_owned()),
        ..ListNetworkStorages::default()
    };
    let page = novita
        .network_storages(named("api-test-storage"))
        .await
        .unwrap();
    let storage = page.storages.first().expect("the storage is listed");
    let id = storage.storage_id.clone();
    novita
        .update_network_storage(UpdateNetworkStorage {
            storage_id: id.clone(),
            storage_name: Some("api-test-renamed".to_owned()),
            storage_size: Some(20),
        })
        .await
        .unwrap();
    let page = novita
        .network_storages(named("api-test-renamed"))
        .await
        .unwrap();
    let renamed = page
        .storages
        .first()
        .expect("the renamed storage is listed");
    assert_eq!(renamed.storage_id, id);
    assert_eq!(renamed.storage_size, Some(20));
    novita.delete_network_storage(id.as_str()).await.unwrap();
    let page = novita
        .network_storages(ListNetworkStorages::default())
        .await
        .unwrap();
    assert!(page.storages.iter().all(|s| s.storage_id != id));
}

/// Polls (the simulator runs 100x fast; bounded) until the instance is in
/// `status`.
async fn wait_for(novita: &Novita, id: &str, status: InstanceStatus) {
    for _ in 0..600 {
        if novita.instance(id).await.unwrap().status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("instance {id} never became {status:?}");
}

#[tokio::test]
async fn an_instance_is_edited_stopped_and_migrated() {
    let s = sim().await;
    let novita = client(&s);
    let id = novita
        .create_instance(CreateInstanceRequest::new(PRODUCT, 1, 60, "nginx:latest"))
        .await
        .unwrap();
    wait_for(&novita, &id, InstanceStatus::Running).await;
    novita
        .edit_instance(EditInstance {
            instance_id: id.clone(),
            ports: vec![EditPort {
                port: 8080,
                kind: "http".to_owned(),
            }],
            expand_root_disk: None,
        })
        .await
        .unwrap();
    novita.stop_instance(id.as_str()).await.unwrap();
    wait_for(&novita, &id, InstanceStatus::Exited).await;
    novita.migrate_instance(id.as_str()).await.unwrap();
    wait_for(&novita, &id, InstanceStatus::Exited).await;
}
