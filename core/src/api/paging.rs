//! Walking every page of a paged list, as a small state machine.
//!
//! [`Pager`] decides, after each page, whether to ask for the next one: it
//! stops when the reported `total` is reached, on an empty page, on a short
//! page when no total is reported, and after [`PagerConfig::max_pages`] pages
//! whatever the server says (a server that never ends cannot keep a caller
//! looping). [`InstancePager`] wraps it for `GET /v1/gpu/instances` and gathers
//! the instances.
//!
//! ```
//! use novitai_core::api::paging::{InstancePager, PageStep};
//! use novitai_core::api::instances::{InstancePage, ListInstances};
//!
//! let mut pager = InstancePager::new(ListInstances::default(), 100).unwrap();
//! while let Some(request) = pager.request() {
//!     // send `request`, parse the answer; here: one empty page
//!     let page = InstancePage::default();
//!     if let PageStep::Done(_) = pager.on_page(page) { break; }
//! }
//! assert!(pager.instances().is_empty());
//! ```

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::instances::{Instance, InstancePage, ListInstances};

/// How a [`Pager`] walks pages.
///
/// # Default
/// `page_size` = 50, `first_page` = 1, `max_pages` = 1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagerConfig {
    /// Items asked for per page (1 or more).
    pub page_size: u32,
    /// Number of the first page (Novita counts from 1).
    pub first_page: u32,
    /// Most pages fetched before giving up (1 or more).
    pub max_pages: u32,
}

impl Default for PagerConfig {
    fn default() -> PagerConfig {
        PagerConfig {
            page_size: 50,
            first_page: 1,
            max_pages: 1000,
        }
    }
}

/// A [`PagerConfig`] value out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PagerConfigError {
    /// `page_size` was 0; it must be at least 1.
    ZeroPageSize,
    /// `max_pages` was 0; it must be at least 1.
    ZeroMaxPages,
}

impl fmt::Display for PagerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PagerConfigError::ZeroPageSize => {
                f.write_str("pager page_size is 0; it must be at least 1 (default 50)")
            }
            PagerConfigError::ZeroMaxPages => {
                f.write_str("pager max_pages is 0; it must be at least 1 (default 1000)")
            }
        }
    }
}

/// Why a [`Pager`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PagerDone {
    /// As many items as the reported total have arrived.
    TotalReached,
    /// A page had fewer items than the page size and no total was reported.
    ShortPage,
    /// A page had no items.
    EmptyPage,
    /// `max_pages` pages were fetched (or page numbers ran out) before the end.
    PageLimit,
}

/// What to do after a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PageStep {
    /// Fetch this page number next.
    Next(u32),
    /// Stop.
    Done(PagerDone),
}

/// The page-walking state machine. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pager {
    config: PagerConfig,
    next_page: u32,
    /// The page size in force: the configured one, or a smaller one the
    /// server reported.
    page_size: u32,
    pages_seen: u32,
    items_seen: u64,
    done: Option<PagerDone>,
}

impl Pager {
    /// A pager at its first page.
    ///
    /// # Errors
    /// [`PagerConfigError`] for a zero page size or page limit.
    pub fn new(config: PagerConfig) -> Result<Pager, PagerConfigError> {
        if config.page_size == 0 {
            return Err(PagerConfigError::ZeroPageSize);
        }
        if config.max_pages == 0 {
            return Err(PagerConfigError::ZeroMaxPages);
        }
        Ok(Pager {
            config,
            next_page: config.first_page,
            page_size: config.page_size,
            pages_seen: 0,
            items_seen: 0,
            done: None,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> PagerConfig {
        self.config
    }

    /// The page number to fetch now, or `None` once done.
    #[must_use]
    pub fn next_page(&self) -> Option<u32> {
        self.done.is_none().then_some(self.next_page)
    }

    /// Why the pager stopped, once it has.
    #[must_use]
    pub fn done(&self) -> Option<PagerDone> {
        self.done
    }

    /// Pages handled so far.
    #[must_use]
    pub fn pages_seen(&self) -> u32 {
        self.pages_seen
    }

    /// Items counted so far.
    #[must_use]
    pub fn items_seen(&self) -> u64 {
        self.items_seen
    }

    /// Records a page of `items` items, with the server's `total` and page size
    /// if it reported them (a reported page size smaller than the requested one
    /// is taken as the server's cap from then on). Returns the next step; once done, every
    /// further call returns the same `Done`.
    pub fn on_page(
        &mut self,
        items: usize,
        total: Option<u64>,
        reported_page_size: Option<u64>,
    ) -> PageStep {
        if let Some(d) = self.done {
            return PageStep::Done(d);
        }
        self.pages_seen = self.pages_seen.saturating_add(1);
        let items = u64::try_from(items).unwrap_or(u64::MAX);
        self.items_seen = self.items_seen.saturating_add(items);
        if let Some(cap) = reported_page_size
            .filter(|&s| s > 0)
            .and_then(|s| u32::try_from(s).ok())
        {
            self.page_size = self.page_size.min(cap);
        }
        let page_size = u64::from(self.page_size);
        let done = if items == 0 {
            Some(PagerDone::EmptyPage)
        } else if total.is_some_and(|t| self.items_seen >= t) {
            Some(PagerDone::TotalReached)
        } else if total.is_none() && items < page_size {
            Some(PagerDone::ShortPage)
        } else if self.pages_seen >= self.config.max_pages {
            Some(PagerDone::PageLimit)
        } else {
            match self.next_page.checked_add(1) {
                Some(n) => {
                    self.next_page = n;
                    None
                }
                None => Some(PagerDone::PageLimit),
            }
        };
        match done {
            Some(d) => {
                self.done = Some(d);
                PageStep::Done(d)
            }
            None => PageStep::Next(self.next_page),
        }
    }
}

/// Walks every page of `GET /v1/gpu/instances`, gathering the instances
/// (an instance id seen on an earlier page is not added twice, in case the
/// list shifted between pages).
#[derive(Clone, Debug)]
pub struct InstancePager {
    query: ListInstances,
    pager: Pager,
    seen: BTreeSet<String>,
    instances: Vec<Instance>,
}

impl InstancePager {
    /// Pages through `query` (its filters and page size are kept; its page
    /// number is the first page), fetching at most `max_pages` pages.
    ///
    /// # Errors
    /// [`PagerConfigError`] for a zero page size or page limit.
    pub fn new(query: ListInstances, max_pages: u32) -> Result<InstancePager, PagerConfigError> {
        let pager = Pager::new(PagerConfig {
            page_size: query.page_size,
            first_page: query.page_num,
            max_pages,
        })?;
        Ok(InstancePager {
            query,
            pager,
            seen: BTreeSet::new(),
            instances: Vec::new(),
        })
    }

    /// The request to send now, or `None` when done.
    #[must_use]
    pub fn request(&self) -> Option<ListInstances> {
        self.pager.next_page().map(|n| self.query.page(n))
    }

    /// Records a parsed page and says what to do next.
    pub fn on_page(&mut self, page: InstancePage) -> PageStep {
        let step = self
            .pager
            .on_page(page.instances.len(), page.total, page.page_size);
        for i in page.instances {
            if i.id.is_empty() || self.seen.insert(i.id.clone()) {
                self.instances.push(i);
            }
        }
        step
    }

    /// The underlying pager.
    #[must_use]
    pub fn pager(&self) -> &Pager {
        &self.pager
    }

    /// The instances gathered so far.
    #[must_use]
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The instances gathered, consuming the pager.
    #[must_use]
    pub fn into_instances(self) -> Vec<Instance> {
        self.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn pager(page_size: u32, max_pages: u32) -> Pager {
        Pager::new(PagerConfig {
            page_size,
            first_page: 1,
            max_pages,
        })
        .unwrap()
    }

    #[test]
    fn three_pages_then_the_total_is_reached() {
        let mut p = pager(10, 100);
        assert_eq!(p.next_page(), Some(1));
        assert_eq!(p.on_page(10, Some(25), None), PageStep::Next(2));
        assert_eq!(p.on_page(10, Some(25), None), PageStep::Next(3));
        assert_eq!(
            p.on_page(5, Some(25), None),
            PageStep::Done(PagerDone::TotalReached)
        );
        assert_eq!(p.next_page(), None);
        assert_eq!(p.items_seen(), 25);
        assert_eq!(
            p.on_page(10, None, None),
            PageStep::Done(PagerDone::TotalReached)
        );
        assert_eq!(p.pages_seen(), 3);
    }

    #[test]
    fn without_a_total_a_short_page_ends_it() {
        let mut p = pager(10, 100);
        assert_eq!(p.on_page(10, None, None), PageStep::Next(2));
        assert_eq!(
            p.on_page(3, None, None),
            PageStep::Done(PagerDone::ShortPage)
        );
    }

    #[test]
    fn a_total_exactly_on_a_page_boundary_needs_no_extra_request() {
        let mut p = pager(10, 100);
        assert_eq!(p.on_page(10, Some(20), None), PageStep::Next(2));
        assert_eq!(
            p.on_page(10, Some(20), None),
            PageStep::Done(PagerDone::TotalReached)
        );
    }

    #[test]
    fn without_a_total_a_full_last_page_is_followed_by_an_empty_one() {
        let mut p = pager(10, 100);
        assert_eq!(p.on_page(10, None, None), PageStep::Next(2));
        assert_eq!(
            p.on_page(0, None, None),
            PageStep::Done(PagerDone::EmptyPage)
        );
    }

    #[test]
    fn an_empty_page_ends_it_even_if_the_total_says_more() {
        let mut p = pager(10, 100);
        assert_eq!(p.on_page(10, Some(50), None), PageStep::Next(2));
        assert_eq!(
            p.on_page(0, Some(50), None),
            PageStep::Done(PagerDone::EmptyPage)
        );
    }

    #[test]
    fn a_server_that_never_ends_is_cut_off_at_max_pages() {
        let mut p = pager(10, 5);
        for n in 2..=5 {
            assert_eq!(p.on_page(10, Some(u64::MAX), None), PageStep::Next(n));
        }
        assert_eq!(
            p.on_page(10, Some(u64::MAX), None),
            PageStep::Done(PagerDone::PageLimit)
        );
    }

    #[test]
    fn a_server_capping_the_page_size_is_followed() {
        let mut p = pager(500, 100);
        assert_eq!(p.on_page(100, None, Some(100)), PageStep::Next(2));
        assert_eq!(p.on_page(100, None, None), PageStep::Next(3));
        assert_eq!(
            p.on_page(40, None, None),
            PageStep::Done(PagerDone::ShortPage)
        );
    }

    #[test]
    fn page_numbers_do_not_overflow() {
        let mut p = Pager::new(PagerConfig {
            page_size: 1,
            first_page: u32::MAX,
            max_pages: 10,
        })
        .unwrap();
        assert_eq!(
            p.on_page(1, None, None),
            PageStep::Done(PagerDone::PageLimit)
        );
    }

    #[test]
    fn zero_config_values_are_refused() {
        let e = Pager::new(PagerConfig {
            page_size: 0,
            ..PagerConfig::default()
        })
        .unwrap_err();
        assert!(format!("{e}").contains("page_size"));
        assert_eq!(
            Pager::new(PagerConfig {
                max_pages: 0,
                ..PagerConfig::default()
            })
            .unwrap_err(),
            PagerConfigError::ZeroMaxPages
        );
    }

    #[test]
    fn instance_pager_gathers_and_dedupes() {
        let q = ListInstances {
            page_size: 2,
            status: Some(String::from("running")),
            ..ListInstances::default()
        };
        let mut p = InstancePager::new(q, 10).unwrap();
        let inst = |id: &str| Instance {
            id: String::from(id),
            ..Instance::default()
        };
        let r = p.request().unwrap();
        assert_eq!(r.page_num, 1);
        assert_eq!(r.status.as_deref(), Some("running"));
        let step = p.on_page(InstancePage {
            instances: alloc::vec![inst("a"), inst("b")],
            total: Some(3),
            ..InstancePage::default()
        });
        assert_eq!(step, PageStep::Next(2));
        assert_eq!(p.request().unwrap().page_num, 2);
        let step = p.on_page(InstancePage {
            instances: alloc::vec![inst("b"), inst("c")],
            total: Some(3),
            ..InstancePage::default()
        });
        assert_eq!(step, PageStep::Done(PagerDone::TotalReached));
        assert!(p.request().is_none());
        let ids: Vec<String> = p.into_instances().into_iter().map(|i| i.id).collect();
        assert_eq!(ids, alloc::vec!["a", "b", "c"]);
    }
}
