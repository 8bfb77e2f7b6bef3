//! Products (`GET /v1/products`), prices, and choosing the cheapest deployable
//! product across regions.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;
use serde::{Deserialize, Deserializer, Serialize};

use super::validate::{self, Checker, ValidationErrors};
use super::{ApiError, Endpoint, PathQuery, fast, get, lenient, list_under, success_json};
use crate::http::{HttpRequest, HttpResponse};

/// A price in units of 1e-5 US dollars per hour, as Novita sends it
/// (`"35000"` = $0.35/h). Reads from numbers and numeric strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Price(pub u64);

impl Price {
    /// Units per dollar.
    pub const UNITS_PER_DOLLAR: u64 = 100_000;

    /// The price in dollars per hour (approximate for huge values).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn dollars_per_hour(self) -> f64 {
        self.0 as f64 / Self::UNITS_PER_DOLLAR as f64
    }

    /// The raw units (1e-5 USD per hour).
    #[must_use]
    pub const fn units(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Price {
    /// `$0.35/h`, `$1.2345/h`, `$3.00/h` (exact, no floating point).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::UNITS_PER_DOLLAR;
        let mut frac = self.0 % Self::UNITS_PER_DOLLAR;
        let mut digits = 5;
        while digits > 2 && frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "${whole}.{frac:0digits$}/h")
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Price, D::Error> {
        match lenient::opt_u64(d)? {
            Some(n) => Ok(Price(n)),
            None => Err(serde::de::Error::custom(
                "a price must be a whole number of 1e-5 USD",
            )),
        }
    }
}

fn opt_price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Price>, D::Error> {
    lenient::opt_u64(d).map(|o| o.map(Price))
}

/// A monthly price option.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyPrice {
    /// The price (same units as [`Price`]; **uncertain** whether per hour or per month).
    #[serde(default, deserialize_with = "opt_price")]
    pub price: Option<Price>,
    /// Number of months.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub month: Option<u64>,
}

/// A product: a GPU model in a configuration, with its regions and prices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Product id, used in create-instance.
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    /// Product name, e.g. `"RTX 4090 24GB"`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// vCPUs per GPU.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub cpu_per_gpu: Option<u64>,
    /// Memory per GPU, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub memory_per_gpu: Option<u64>,
    /// Disk per GPU, GB.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub disk_per_gpu: Option<u64>,
    /// Whether instances of this product can be deployed now.
    #[serde(default, deserialize_with = "lenient::bool_or_false")]
    pub available_deploy: bool,
    /// Smallest root filesystem, GB.
    #[serde(rename = "minRootFS", default, deserialize_with = "lenient::opt_u64")]
    pub min_root_fs: Option<u64>,
    /// Largest root filesystem, GB.
    #[serde(rename = "maxRootFS", default, deserialize_with = "lenient::opt_u64")]
    pub max_root_fs: Option<u64>,
    /// Regions (cluster names); the first whitespace-separated token of each
    /// entry is the region code, e.g. `"AS-SGP-02"`.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub regions: Vec<String>,
    /// On-demand price.
    #[serde(default, deserialize_with = "opt_price")]
    pub price: Option<Price>,
    /// Spot price.
    #[serde(default, deserialize_with = "opt_price")]
    pub spot_price: Option<Price>,
    /// Billing methods offered (`onDemand`, `monthly`, `spot`).
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub billing_methods: Vec<String>,
    /// Monthly prices.
    #[serde(default, deserialize_with = "lenient::records")]
    pub monthly_price: Vec<MonthlyPrice>,
}

/// Filters for [`ListProducts`]; every field is optional.
///
/// # Default
/// No filters (all products, on-demand billing as the server defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProducts {
    /// Only products in this cluster.
    pub cluster_id: Option<String>,
    /// GPUs per instance (0–8).
    pub gpu_num: Option<u32>,
    /// Fuzzy product-name filter.
    pub product_name: Option<String>,
    /// Minimum vCPUs per GPU.
    pub min_cpu_per_gpu: Option<u32>,
    /// Minimum memory per GPU, GB.
    pub min_memory_per_gpu: Option<u32>,
    /// Minimum root filesystem size, GB.
    pub min_root_fs_size: Option<u32>,
    /// `onDemand` (server default), `monthly` or `spot`.
    pub billing_method: Option<String>,
}

impl ListProducts {
    /// All products whose name matches `name` (fuzzy, server side).
    #[must_use]
    pub fn named(name: impl Into<String>) -> ListProducts {
        ListProducts {
            product_name: Some(name.into()),
            ..ListProducts::default()
        }
    }
}

impl Endpoint for ListProducts {
    type Output = Vec<Product>;

    fn name(&self) -> &'static str {
        "products.list"
    }

    fn request(&self) -> HttpRequest {
        let mut q = PathQuery::new("/v1/products");
        q.opt_str("clusterId", self.cluster_id.as_deref())
            .opt_num("gpuNum", self.gpu_num.map(u64::from))
            .opt_str("productName", self.product_name.as_deref())
            .opt_num("minCpuPerGpu", self.min_cpu_per_gpu.map(u64::from))
            .opt_num("minMemoryPerGpu", self.min_memory_per_gpu.map(u64::from))
            .opt_num("minRootFSSize", self.min_root_fs_size.map(u64::from))
            .opt_str("billingMethod", self.billing_method.as_deref());
        get(q.finish())
    }

    fn parse(&self, response: &HttpResponse) -> Result<Vec<Product>, ApiError> {
        if let Some((products, _)) = fast::list(response, &["data"]) {
            return Ok(products);
        }
        let v = success_json(response)?;
        list_under(&v, "data", response)
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Checker::default();
        if let Some(n) = self.gpu_num {
            c.range("gpuNum", u64::from(n), (0, 8));
        }
        if let Some(m) = &self.billing_method {
            c.one_of("billingMethod", m, validate::BILLING_MODES);
        }
        c.finish()
    }

    fn is_cacheable(&self) -> bool {
        true
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// The region fallback order the existing service uses.
pub const FALLBACK_REGIONS: &[&str] = &[
    "AS-SGP-02",
    "CN-HK-01",
    "OC-AU-01",
    "US-CA-06",
    "US-WEST-01",
    "EU-DE-01",
    "EU-WEST-01",
    "AS-IN-01",
];

/// What to look for in [`choose_product`].
///
/// # Default
/// Any name, no preferred region, `fallback_regions` = [`FALLBACK_REGIONS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductQuery {
    /// Case-insensitive substring of the product name (empty = any).
    pub name: String,
    /// Region to try first, e.g. `"US-CA-06"`.
    pub preferred_region: Option<String>,
    /// Regions to try after the preferred one, in order.
    pub fallback_regions: Vec<String>,
}

impl Default for ProductQuery {
    fn default() -> ProductQuery {
        ProductQuery {
            name: String::new(),
            preferred_region: None,
            fallback_regions: FALLBACK_REGIONS.iter().map(|r| String::from(*r)).collect(),
        }
    }
}

impl ProductQuery {
    /// Products named like `name`, default fallback regions.
    #[must_use]
    pub fn named(name: impl Into<String>) -> ProductQuery {
        ProductQuery {
            name: name.into(),
            ..ProductQuery::default()
        }
    }

    /// The regions in the order they are tried: the preferred one, then the
    /// fallbacks, without repeats (compared case-insensitively).
    #[must_use]
    pub fn region_order(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self
            .preferred_region
            .iter()
            .map(String::as_str)
            .chain(self.fallback_regions.iter().map(String::as_str));
        for r in all {
            let r = r.trim();
            if !r.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(r)) {
                out.push(r);
            }
        }
        out
    }
}

/// The product [`choose_product`] picked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChoice {
    /// The product.
    pub product: Product,
    /// The region it matched (as written in the query).
    pub region: String,
    /// `true` if that is the preferred region.
    pub preferred: bool,
}

/// Why [`choose_product`] found nothing: what it looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoProductError {
    /// The name searched for.
    pub name: String,
    /// The regions tried, in order.
    pub regions_tried: Vec<String>,
    /// Products in the list.
    pub listed: usize,
    /// Of those, how many matched the name.
    pub name_matches: usize,
    /// Of those, how many were deployable with a positive spot price.
    pub deployable: usize,
}

impl fmt::Display for NoProductError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no deployable product named like {:?} with a spot price in regions [{}] ({} products listed, {} matched the name, {} deployable anywhere): try another product name or region, or retry later",
            self.name,
            self.regions_tried.join(", "),
            self.listed,
            self.name_matches,
            self.deployable
        )
    }
}

fn name_matches(product: &str, wanted: &str) -> bool {
    let (p, w) = (product.as_bytes(), wanted.trim().as_bytes());
    w.is_empty() || p.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w))
}

fn in_region(p: &Product, region: &str) -> bool {
    p.regions.iter().any(|r| {
        r.split_whitespace()
            .next()
            .is_some_and(|first| first.eq_ignore_ascii_case(region))
    })
}

fn deployable_spot(p: &Product) -> Option<Price> {
    p.spot_price.filter(|s| p.available_deploy && s.0 > 0)
}

/// Cheapest first: spot price ascending; ties go to more memory, then more
/// CPU, then the smaller id.
fn better(a: &Product, b: &Product) -> Ordering {
    deployable_spot(a)
        .cmp(&deployable_spot(b))
        .then_with(|| b.memory_per_gpu.cmp(&a.memory_per_gpu))
        .then_with(|| b.cpu_per_gpu.cmp(&a.cpu_per_gpu))
        .then_with(|| a.id.cmp(&b.id))
}

/// Picks the cheapest deployable product (`availableDeploy` and a spot price
/// above 0) whose name contains `query.name`, trying the regions of
/// [`ProductQuery::region_order`] in turn; within a region the order is spot
/// price ascending, then more memory, more CPU, smaller id.
///
/// # Errors
/// [`NoProductError`] when no region has a candidate.
pub fn choose_product(
    products: &[Product],
    query: &ProductQuery,
) -> Result<ProductChoice, NoProductError> {
    let candidates: Vec<&Product> = products
        .iter()
        .filter(|p| name_matches(&p.name, &query.name))
        .collect();
    let deployable: Vec<&Product> = candidates
        .iter()
        .copied()
        .filter(|p| deployable_spot(p).is_some())
        .collect();
    let order = query.region_order();
    for region in &order {
        let best = deployable
            .iter()
            .copied()
            .filter(|p| in_region(p, region))
            .min_by(|a, b| better(a, b));
        if let Some(p) = best {
            return Ok(ProductChoice {
                product: p.clone(),
                region: String::from(*region),
                preferred: query
                    .preferred_region
                    .as_deref()
                    .is_some_and(|r| r.trim().eq_ignore_ascii_case(region)),
            });
        }
    }
    Err(NoProductError {
        name: query.name.clone(),
        regions_tried: order.into_iter().map(String::from).collect(),
        listed: products.len(),
        name_matches: candidates.len(),
        deployable: deployable.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    fn product(id: &str, spot: u64, mem: u64, cpu: u64, regions: &[&str]) -> Product {
        Product {
            id: String::from(id),
            name: String::from("RTX 4090 24GB"),
            cpu_per_gpu: Some(cpu),
            memory_per_gpu: Some(mem),
            available_deploy: true,
            regions: regions.iter().map(|r| String::from(*r)).collect(),
            spot_price: Some(Price(spot)),
            ..Product::default()
        }
    }

    #[test]
    fn request_carries_every_filter() {
        let r = ListProducts {
            cluster_id: Some(String::from("c 1")),
            gpu_num: Some(2),
            product_name: Some(String::from("RTX 4090")),
            min_cpu_per_gpu: Some(4),
            min_memory_per_gpu: Some(16),
            min_root_fs_size: Some(50),
            billing_method: Some(String::from("spot")),
        }
        .request();
        assert_eq!(
            r.path_and_query,
            "/v1/products?clusterId=c%201&gpuNum=2&productName=RTX%204090&minCpuPerGpu=4&minMemoryPerGpu=16&minRootFSSize=50&billingMethod=spot"
        );
        assert_eq!(
            ListProducts::default().request().path_and_query,
            "/v1/products"
        );
        assert!(ListProducts::default().is_cacheable());
        let bad = ListProducts {
            gpu_num: Some(9),
            billing_method: Some(String::from("yearly")),
            ..ListProducts::default()
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 2);
    }

    #[test]
    fn parses_documented_and_odd_shapes() {
        let body = br#"{"data":[
            {"id":"p1","name":"RTX 4090 24GB","cpuPerGpu":"16","memoryPerGpu":62,"diskPerGpu":"100",
             "availableDeploy":true,"minRootFS":"10","maxRootFS":6144,"regions":["AS-SGP-02 Singapore","US-CA-06"],
             "price":"35000","spotPrice":17500,"billingMethods":["onDemand","spot"],
             "monthlyPrice":[{"price":"20000","month":"1"}],"somethingNew":{"x":1}},
            {"id":"p2","name":"H100","cpuPerGpu":{"weird":true},"availableDeploy":"false","price":"n/a"}
        ]}"#;
        let got = ListProducts::default()
            .parse(&HttpResponse::new(200, body.to_vec()))
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].cpu_per_gpu, Some(16));
        assert_eq!(got[0].price, Some(Price(35_000)));
        assert_eq!(got[0].spot_price, Some(Price(17_500)));
        assert_eq!(got[0].min_root_fs, Some(10));
        assert_eq!(got[0].monthly_price[0].month, Some(1));
        assert_eq!(got[1].cpu_per_gpu, None);
        assert!(!got[1].available_deploy);
        assert_eq!(got[1].price, None);
    }

    #[test]
    fn prices_print_as_dollars() {
        assert_eq!(format!("{}", Price(35_000)), "$0.35/h");
        assert_eq!(format!("{}", Price(123_450)), "$1.2345/h");
        assert_eq!(format!("{}", Price(300_000)), "$3.00/h");
        assert_eq!(format!("{}", Price(1)), "$0.00001/h");
        assert!((Price(35_000).dollars_per_hour() - 0.35).abs() < 1e-12);
    }

    #[test]
    fn the_cheapest_in_the_preferred_region_wins() {
        let products = vec![
            product("a", 100, 32, 8, &["AS-SGP-02"]),
            product("b", 90, 32, 8, &["US-CA-06 California"]),
            product("c", 80, 32, 8, &["EU-DE-01"]),
        ];
        let q = ProductQuery {
            preferred_region: Some(String::from("US-CA-06")),
            ..ProductQuery::named("4090")
        };
        let got = choose_product(&products, &q).unwrap();
        assert_eq!(got.product.id, "b");
        assert_eq!(got.region, "US-CA-06");
        assert!(got.preferred);
    }

    #[test]
    fn without_a_preference_the_fallback_order_decides_not_the_price() {
        let products = vec![
            product("eu", 10, 32, 8, &["EU-DE-01"]),
            product("hk", 500, 32, 8, &["CN-HK-01"]),
        ];
        let got = choose_product(&products, &ProductQuery::named("rtx")).unwrap();
        assert_eq!(got.product.id, "hk");
        assert!(!got.preferred);
    }

    #[test]
    fn ties_prefer_more_memory_then_cpu_then_id() {
        let products = vec![
            product("z", 100, 32, 8, &["AS-SGP-02"]),
            product("y", 100, 64, 8, &["AS-SGP-02"]),
            product("x", 100, 64, 16, &["AS-SGP-02"]),
            product("w", 100, 64, 16, &["AS-SGP-02"]),
        ];
        let got = choose_product(&products, &ProductQuery::default()).unwrap();
        assert_eq!(got.product.id, "w");
    }

    #[test]
    fn undeployable_and_free_spot_products_are_skipped_and_the_error_says_what_was_tried() {
        let mut off = product("off", 10, 32, 8, &["AS-SGP-02"]);
        off.available_deploy = false;
        let zero = product("zero", 0, 32, 8, &["AS-SGP-02"]);
        let mut none = product("none", 10, 32, 8, &["AS-SGP-02"]);
        none.spot_price = None;
        let far = product("far", 10, 32, 8, &["MARS-01"]);
        let products = vec![off, zero, none, far];
        let e = choose_product(&products, &ProductQuery::named("4090")).unwrap_err();
        assert_eq!(e.listed, 4);
        assert_eq!(e.name_matches, 4);
        assert_eq!(e.deployable, 1);
        assert_eq!(e.regions_tried.len(), FALLBACK_REGIONS.len());
        let shown = format!("{e}");
        assert!(shown.contains("AS-SGP-02, CN-HK-01"), "{shown}");
        let e = choose_product(&products, &ProductQuery::named("H100")).unwrap_err();
        assert_eq!(e.name_matches, 0);
    }
}
