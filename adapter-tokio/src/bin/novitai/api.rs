//! `products`, `optimal`, `clusters`, `templates`, `status`: read-only API
//! commands.

use novitai_tokio::core::api::products::{ListProducts, ProductQuery};
use novitai_tokio::core::api::templates::ListTemplates;

use crate::common::{Global, client, opt, print_json, table};
use crate::exit::CliError;

/// `novitai products`.
#[derive(clap::Args, Debug)]
pub struct ProductsArgs {
    /// Only products whose name matches (fuzzy, server side), e.g. "4090".
    #[arg(long)]
    pub name: Option<String>,
    /// Only products offered in this region (e.g. US-CA-06); filtered here.
    #[arg(long)]
    pub region: Option<String>,
    /// Billing method: onDemand (server default), monthly or spot.
    #[arg(long)]
    pub billing: Option<String>,
}

/// `novitai optimal`.
#[derive(clap::Args, Debug)]
pub struct OptimalArgs {
    /// Product name to look for, e.g. "RTX 4090".
    #[arg(long)]
    pub name: String,
    /// Region to try first; the usual fallback regions follow.
    #[arg(long)]
    pub region: Option<String>,
}

fn in_region(regions: &[String], region: &str) -> bool {
    regions.iter().any(|r| {
        r.split_whitespace()
            .next()
            .is_some_and(|code| code.eq_ignore_ascii_case(region.trim()))
    })
}

pub async fn products(g: &Global, a: ProductsArgs) -> Result<(), CliError> {
    let novita = client(g)?;
    let filter = ListProducts {
        product_name: a.name,
        billing_method: a.billing,
        ..ListProducts::default()
    };
    let mut list = novita
        .products(filter)
        .await
        .map_err(CliError::api("listing products"))?;
    if let Some(region) = &a.region {
        list.retain(|p| in_region(&p.regions, region));
    }
    if g.json {
        return print_json(&list);
    }
    let mut t = table(["id", "name", "price", "spot", "deployable", "regions"]);
    for p in &list {
        t.add_row([
            p.id.clone(),
            p.name.clone(),
            opt(p.price),
            opt(p.spot_price),
            if p.available_deploy { "yes" } else { "no" }.to_owned(),
            p.regions.join(", "),
        ]);
    }
    println!("{t}");
    println!("{} products", list.len());
    Ok(())
}

pub async fn optimal(g: &Global, a: OptimalArgs) -> Result<(), CliError> {
    let novita = client(g)?;
    let query = ProductQuery {
        preferred_region: a.region.clone(),
        ..ProductQuery::named(a.name)
    };
    let choice = novita
        .optimal_product(&query)
        .await
        .map_err(CliError::api("choosing a product"))?;
    if g.json {
        return print_json(&choice);
    }
    println!(
        "{} ({}) in {} at {} spot{}",
        choice.product.name,
        choice.product.id,
        choice.region,
        opt(choice.product.spot_price),
        match (&a.region, choice.preferred) {
            (Some(r), false) => format!(" (region fallback: {r} has none)"),
            _ => String::new(),
        }
    );
    Ok(())
}

pub async fn clusters(g: &Global) -> Result<(), CliError> {
    let novita = client(g)?;
    let list = novita
        .clusters()
        .await
        .map_err(CliError::api("listing clusters"))?;
    if g.json {
        return print_json(&list);
    }
    let mut t = table(["id", "name", "GPUs", "network storage"]);
    for c in &list {
        t.add_row([
            c.id.clone(),
            c.name.clone(),
            c.available_gpu_type.join(", "),
            if c.support_network_storage {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `novitai templates`.
#[derive(clap::Args, Debug)]
pub struct TemplatesArgs {
    /// Only templates whose name matches.
    #[arg(long)]
    pub name: Option<String>,
    /// Page number (from 1).
    #[arg(long)]
    pub page: Option<u32>,
    /// Page size.
    #[arg(long)]
    pub page_size: Option<u32>,
}

pub async fn templates(g: &Global, a: TemplatesArgs) -> Result<(), CliError> {
    let novita = client(g)?;
    let page = novita
        .templates(ListTemplates {
            name: a.name,
            page_num: a.page,
            page_size: a.page_size,
            ..ListTemplates::default()
        })
        .await
        .map_err(CliError::api("listing templates"))?;
    if g.json {
        return print_json(&page);
    }
    let mut t = table(["id", "name", "image", "channel", "ports"]);
    for tpl in &page.templates {
        t.add_row([
            tpl.id.clone(),
            tpl.name.clone(),
            tpl.image.clone(),
            opt(tpl.channel.as_deref()),
            tpl.ports.len().to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "{} templates on this page{}",
        page.templates.len(),
        page.total.map_or(String::new(), |n| format!(" of {n}"))
    );
    Ok(())
}

/// `novitai status`: a health check, then the engine's state.
pub async fn status(g: &Global) -> Result<(), CliError> {
    let novita = client(g)?;
    let health = novita.health_check().await;
    let status = novita
        .status()
        .await
        .map_err(CliError::api("reading the client status"))?;
    if g.json {
        print_json(&serde_json::json!({
            "healthy": health.is_ok(),
            "error": health.as_ref().err().map(ToString::to_string),
            "base_url": novita.config().api_base_url,
            "breaker": status.breaker.to_string(),
            "queued": status.queued,
            "in_flight": status.in_flight,
            "submitted": status.submitted,
            "completed": status.completed,
            "cache_entries": status.cache_entries,
        }))?;
    } else {
        println!(
            "API          {}",
            match &health {
                Ok(()) => "healthy".to_owned(),
                Err(e) => format!("unhealthy: {e}"),
            }
        );
        println!("breaker      {}", status.breaker);
        println!("queued       {}", status.queued);
        println!("in flight    {}", status.in_flight);
        println!("submitted    {}", status.submitted);
        println!("completed    {}", status.completed);
        println!("cache        {} entries", status.cache_entries);
    }
    health.map_err(CliError::api("checking the API"))
}
