//! Sites: the record, environments and the status machine (the
//! asynchronous work on them is in [`super::operation`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A WordPress site of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub site_id: String,
    pub tenant_id: String,
    /// 1..63 lowercase letters, digits and hyphens.
    pub name: String,
    pub environment: Environment,
    pub status: SiteStatus,
    /// The status to return to when the tenant is unparked or resumed (set
    /// while the tenant's lifecycle holds the site SUSPENDED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<SiteStatus>,
    /// Where the site answers: the local provider's simulated address, or an
    /// attached WordPress's URL.
    pub url: String,
    /// `local` (the embedded simulation) or `wordpress` (an attached, real
    /// WordPress reached through its REST API).
    pub provider: String,
    /// The attached WordPress's user (its Application Password is stored
    /// encrypted and never answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wordpress_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The template applied when the site was created, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloned_from: Option<String>,
    /// The asynchronous operation working on the site; another mutation waits
    /// for it to end (409 `operation_in_progress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Why the site is FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// Where a site sits on the promotion path.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Environment {
    Dev,
    Sit,
    Prod,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "DEV",
            Environment::Sit => "SIT",
            Environment::Prod => "PROD",
        }
    }

    /// The one environment a promotion may go to next.
    pub fn next(self) -> Option<Environment> {
        match self {
            Environment::Dev => Some(Environment::Sit),
            Environment::Sit => Some(Environment::Prod),
            Environment::Prod => None,
        }
    }
}

/// Where a site is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SiteStatus {
    Provisioning,
    Active,
    Suspended,
    Failed,
    Deleting,
}

impl SiteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Provisioning => "PROVISIONING",
            SiteStatus::Active => "ACTIVE",
            SiteStatus::Suspended => "SUSPENDED",
            SiteStatus::Failed => "FAILED",
            SiteStatus::Deleting => "DELETING",
        }
    }
}

impl Site {
    /// The site as its tenant's lifecycle wants it: held SUSPENDED while the
    /// tenant is not active (remembering where it was), and given back its
    /// previous status when the tenant is active again. Answers whether
    /// anything changed. A site being deleted is left alone.
    pub fn follow_tenant(&mut self, tenant_active: bool) -> bool {
        match (tenant_active, self.status) {
            (_, SiteStatus::Deleting) => false,
            (false, SiteStatus::Suspended) => false,
            (false, status) => {
                self.previous_status = Some(status);
                self.status = SiteStatus::Suspended;
                true
            }
            (true, SiteStatus::Suspended) => match self.previous_status.take() {
                Some(previous) => {
                    self.status = previous;
                    true
                }
                None => false,
            },
            (true, _) => false,
        }
    }

    /// Sets the status a finished job leaves the site in; if the tenant's
    /// lifecycle holds the site SUSPENDED, that status is remembered for
    /// when it lets go.
    pub fn settle(&mut self, status: SiteStatus) {
        if self.status == SiteStatus::Suspended && self.previous_status.is_some() {
            self.previous_status = Some(status);
        } else {
            self.status = status;
        }
    }

    /// The status that counts for what may be done to the site: a held
    /// site's previous one.
    pub fn effective_status(&self) -> SiteStatus {
        match (self.status, self.previous_status) {
            (SiteStatus::Suspended, Some(previous)) => previous,
            (status, _) => status,
        }
    }
}

/// Checks a site name: 1..63 of `a-z`, `0-9` and `-`, not starting or
/// ending with `-` (it becomes a host name label).
pub fn check_site_name(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("1 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(status: SiteStatus) -> Site {
        Site {
            site_id: "site_1".into(),
            tenant_id: "ten_1".into(),
            name: "shop".into(),
            environment: Environment::Dev,
            status,
            previous_status: None,
            url: String::new(),
            provider: "local".into(),
            wordpress_username: None,
            instance_id: None,
            template_id: None,
            cloned_from: None,
            operation_id: None,
            failure: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn a_parked_tenant_holds_its_sites_and_gives_them_back() {
        for status in [
            SiteStatus::Active,
            SiteStatus::Provisioning,
            SiteStatus::Failed,
        ] {
            let mut s = site(status);
            assert!(s.follow_tenant(false));
            assert_eq!(s.status, SiteStatus::Suspended);
            assert!(!s.follow_tenant(false), "holding twice changes nothing");
            assert!(s.follow_tenant(true));
            assert_eq!(s.status, status);
            assert_eq!(s.previous_status, None);
        }
        let mut deleting = site(SiteStatus::Deleting);
        assert!(!deleting.follow_tenant(false));
    }

    #[test]
    fn a_job_finishing_on_a_held_site_lands_in_its_previous_status() {
        let mut s = site(SiteStatus::Provisioning);
        s.follow_tenant(false);
        s.settle(SiteStatus::Active);
        assert_eq!(s.status, SiteStatus::Suspended);
        assert_eq!(s.effective_status(), SiteStatus::Active);
        s.follow_tenant(true);
        assert_eq!(s.status, SiteStatus::Active);
    }

    #[test]
    fn promotion_goes_one_step_at_a_time() {
        assert_eq!(Environment::Dev.next(), Some(Environment::Sit));
        assert_eq!(Environment::Sit.next(), Some(Environment::Prod));
        assert_eq!(Environment::Prod.next(), None);
    }

    #[test]
    fn site_names_are_host_name_labels() {
        assert!(check_site_name("shop-2").is_ok());
        for bad in ["", "-shop", "shop-", "Shop", "shop_1", &"a".repeat(64)] {
            assert!(check_site_name(bad).is_err(), "{bad}");
        }
    }
}
