//! Backups of a site: taken and restored as operations; the bytes go to
//! the blob store with their sha256 beside the record, checked before a
//! restore. Attached sites are backed up by their own host.
//!
//! A site keeps its newest [`BACKUPS_KEPT`] backups: the job that completes
//! one removes the oldest beyond that (it runs as the site's one operation,
//! so no restore is reading them). A backup can also be deleted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids;
use crate::domain::operation::{Operation, OperationKind, ResourceKind, ResourceRef};
use crate::domain::site::Site;
use crate::store::record::{decode, encode};
use crate::store::{Condition, Index, Item, Query, StoreError, TxOp, keys};

use super::super::paging::Page;
use super::super::{Caller, Error, PageRequest, Race, Result, Services, won};
use super::{Accepted, require_active, require_settled};

/// The backups of sites.
pub struct Backups<'a> {
    pub(in crate::service) cx: &'a Services,
}

/// How many backups a site keeps; a new one past that removes the oldest.
pub const BACKUPS_KEPT: usize = 10;

/// A backup of a site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub backup_id: String,
    pub site_id: String,
    pub tenant_id: String,
    pub status: BackupStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// sha256 of the backup's bytes, checked before a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub operation_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum BackupStatus {
    Pending,
    Completed,
    Failed,
}

crate::versioned!(Backup);

pub(crate) fn backup_item(b: &Backup) -> Result<Item> {
    Ok(Item::new(
        keys::backup(&b.site_id, &b.backup_id),
        encode(b)?,
    ))
}

fn backup_not_ready(b: &Backup) -> Error {
    Error::conflict(
        "backup_not_ready",
        format!("the backup is {:?}", b.status).to_uppercase(),
    )
}

impl Backups<'_> {
    /// Authorizes a backup `operation` (`backup`, `restore`) on a site of an
    /// ACTIVE tenant, and loads the site.
    async fn target(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        operation: &str,
    ) -> Result<Site> {
        let (tenant, site) = self
            .cx
            .sites()
            .site_for(
                caller,
                "site.backup",
                tenant_id,
                site_id,
                vec![("operation".into(), operation.into())],
            )
            .await?;
        require_active(&tenant)?;
        Ok(site)
    }

    pub async fn create(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
    ) -> Result<Accepted<Backup>> {
        let site = self.target(caller, tenant_id, site_id, "backup").await?;
        Self::require_local(&site)?;
        require_settled(&site)?;
        let now = self.cx.clock.now();
        let backup_id = ids::new_id("bak");
        let op = Operation::new(
            OperationKind::SiteBackup,
            ResourceRef::new(ResourceKind::Backup, &backup_id, tenant_id)
                .within(ResourceKind::Site, site_id),
            serde_json::json!({ "backupId": backup_id }),
            now,
        );
        let backup = Backup {
            backup_id: backup_id.clone(),
            site_id: site_id.into(),
            tenant_id: tenant_id.into(),
            status: BackupStatus::Pending,
            size_bytes: None,
            sha256: None,
            operation_id: op.operation_id.clone(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.cx
            .sites()
            .start_on_site(
                &site,
                None,
                &op,
                |_| {},
                vec![TxOp::put(backup_item(&backup)?, Condition::NotExists)],
            )
            .await?;
        Ok(Accepted {
            resource: Backup {
                version: 1,
                ..backup
            },
            operation_id: op.operation_id,
        })
    }

    fn require_local(site: &Site) -> Result<()> {
        if site.provider == "local" {
            Ok(())
        } else {
            Err(Error::Unprocessable {
                code: "unsupported_for_attached_site",
                detail: "backups of an attached WordPress are kept by its own host, not bbws"
                    .into(),
            })
        }
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Backup>> {
        self.cx
            .sites()
            .site_for(caller, "site.read", tenant_id, site_id, Vec::new())
            .await?;
        self.cx
            .page(
                Query::new(Index::Primary, keys::backups_of(site_id)).prefix(keys::BACKUP_PREFIX),
                page,
                |item| Ok(Some(decode(item)?)),
            )
            .await
    }

    /// Deletes a backup: its record, then its bytes. Not while one is being
    /// taken (409 `backup_not_ready`), nor while the site runs an operation
    /// (a restore may be reading it: 409 `operation_in_progress`); the
    /// record goes in one transaction with a check of the site, so an
    /// operation that starts meanwhile fails the delete, which reads again.
    pub async fn delete(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        backup_id: &str,
    ) -> Result<()> {
        let mut race = Race::new("the backup");
        loop {
            let site = self.target(caller, tenant_id, site_id, "delete").await?;
            let backup = self.find(site_id, backup_id).await?;
            if backup.status == BackupStatus::Pending {
                return Err(backup_not_ready(&backup));
            }
            require_settled(&site)?;
            let ops = vec![
                TxOp::delete(
                    keys::backup(site_id, backup_id),
                    Condition::Version(backup.version),
                ),
                TxOp::check(
                    keys::site(tenant_id, site_id),
                    Condition::Version(site.version),
                ),
            ];
            match won(self.cx.store.transact(ops).await)? {
                Some(()) => break,
                None => race.lost().await?,
            }
        }
        // Bytes whose record is gone are never read again; a crash before
        // this line leaves them behind, and nothing else.
        self.cx
            .site_settings
            .blobs
            .delete(&keys::backup_blob(site_id, backup_id))
            .await
            .map_err(Error::Internal)
    }

    /// The backup `backup_id` of a site, or 404 `backup_not_found`.
    async fn find(&self, site_id: &str, backup_id: &str) -> Result<Backup> {
        match ids::looks_like("bak", backup_id) {
            true => self.cx.load(&keys::backup(site_id, backup_id)).await?,
            false => None,
        }
        .ok_or_else(|| Error::not_found("backup_not_found", format!("no backup {backup_id}")))
    }

    /// Removes the oldest backups of a site beyond [`BACKUPS_KEPT`] (records,
    /// then bytes). Called by the job that completes a backup, as the site's
    /// one operation.
    pub(crate) async fn prune(&self, site_id: &str) -> Result<usize> {
        let all: Vec<Backup> = self
            .cx
            .query_all(
                Query::new(Index::Primary, keys::backups_of(site_id)).prefix(keys::BACKUP_PREFIX),
            )
            .await?;
        let done: Vec<&Backup> = all
            .iter()
            .filter(|b| b.status != BackupStatus::Pending)
            .collect();
        let surplus = done.len().saturating_sub(BACKUPS_KEPT);
        // Ids are time-ordered and the partition is sorted by them: the
        // first are the oldest.
        for b in &done[..surplus] {
            let key = keys::backup(site_id, &b.backup_id);
            match self
                .cx
                .store
                .delete(&key, Condition::Version(b.version))
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.cx
                .site_settings
                .blobs
                .delete(&keys::backup_blob(site_id, &b.backup_id))
                .await
                .map_err(Error::Internal)?;
        }
        Ok(surplus)
    }

    pub async fn restore(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        backup_id: &str,
    ) -> Result<Accepted<Site>> {
        let site = self.target(caller, tenant_id, site_id, "restore").await?;
        let backup = self.find(site_id, backup_id).await?;
        if backup.status != BackupStatus::Completed {
            return Err(backup_not_ready(&backup));
        }
        require_settled(&site)?;
        let op = self.cx.sites().operation(
            OperationKind::SiteRestore,
            &site,
            serde_json::json!({ "backupId": backup_id }),
        );
        let site = self
            .cx
            .sites()
            .start_on_site(
                &site,
                None,
                &op,
                |_| {},
                vec![TxOp::check(
                    keys::backup(site_id, backup_id),
                    Condition::Version(backup.version),
                )],
            )
            .await?;
        Ok(Accepted {
            resource: site,
            operation_id: op.operation_id,
        })
    }
}
