//! Identity: users, API tokens, authentication (with a short-lived cache,
//! [`auth_cache`]) and the platform administrator's bootstrap
//! ([`bootstrap`]).

pub mod auth_cache;
pub mod bootstrap;

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::user::TokenInfo;
use crate::domain::validate::{MAX_NAME, Validator, normalise_email};
use crate::domain::{Membership, PlatformRole, User, ids};
use crate::policy::{Principal, Resource};
use crate::store::record::{decode, encode};
use crate::store::{Condition, Index, Item, Query, StoreError, TxOp, keys};

use super::paging::Page;
use super::{Caller, Error, PageRequest, Result, Services};

/// Users, their tokens, and who a bearer token is.
pub struct Identity<'a> {
    pub(super) cx: &'a Services,
}

/// What `GET /v1/me` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: User,
    pub platform_role: Option<PlatformRole>,
    pub memberships: Vec<Membership>,
}

/// A freshly issued token: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token_id: String,
    /// The bearer secret. Stored only as a hash: it cannot be shown again.
    pub token: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn user_resource(id: &str) -> Resource {
    Resource {
        kind: "user".into(),
        id: Some(id.to_string()),
        grants_role: None,
        attributes: Vec::new(),
    }
}

fn unauthorized() -> Error {
    Error::Unauthorized("the bearer token is missing, malformed, revoked or unknown".into())
}

impl Identity<'_> {
    /// Resolves a bearer token to its caller.
    pub async fn authenticate(&self, bearer: &str) -> Result<Arc<Caller>> {
        if bearer.len() > 200 {
            return Err(unauthorized());
        }
        let hash = ids::hash_secret(bearer);
        if let Some(caller) = self.cx.auth_cache.get(&hash) {
            return Ok(caller);
        }
        let token = self
            .cx
            .store
            .get(&keys::token(&hash))
            .await?
            .ok_or_else(unauthorized)?;
        let info: TokenInfo = token.decode()?;
        let user: User = self
            .cx
            .load(&keys::user(&info.user_id))
            .await?
            .ok_or_else(unauthorized)?;
        let memberships = self.memberships_of(&user.user_id).await?;
        let caller = Arc::new(Caller {
            principal: Principal {
                user_id: user.user_id,
                platform_admin: user.platform_role == Some(PlatformRole::Admin),
            },
            email: user.email,
            memberships: memberships
                .into_iter()
                .map(|m| (m.tenant_id, m.role))
                .collect(),
        });
        self.cx.auth_cache.put(hash, caller.clone());
        Ok(caller)
    }

    /// Every direct membership of a user.
    pub(crate) async fn memberships_of(&self, user_id: &str) -> Result<Vec<Membership>> {
        self.cx
            .query_all(Query::new(Index::Gsi1, keys::memberships_of(user_id)))
            .await
    }

    /// The writes that create a user, its e-mail claim included.
    pub(crate) fn new_user(
        &self,
        email: &str,
        display_name: &str,
        platform_role: Option<PlatformRole>,
    ) -> Result<(User, Vec<TxOp>)> {
        let user = User {
            user_id: ids::new_id("usr"),
            email: normalise_email(email),
            display_name: display_name.to_string(),
            platform_role,
            created_at: self.cx.clock.now(),
            version: 1,
        };
        let ops = vec![
            TxOp::put(
                Item::new(keys::user(&user.user_id), encode(&user)?)
                    .with_gsi1(keys::ALL_USERS, &user.user_id),
                Condition::NotExists,
            ),
            TxOp::put(
                Item::new(
                    keys::email(&user.email),
                    serde_json::json!({ "userId": user.user_id }),
                ),
                Condition::NotExists,
            ),
        ];
        Ok((user, ops))
    }

    /// The user holding an e-mail address, if any.
    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let Some(claim) = self
            .cx
            .store
            .get(&keys::email(&normalise_email(email)))
            .await?
        else {
            return Ok(None);
        };
        let user_id = claim.value()?["userId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.cx.load(&keys::user(&user_id)).await
    }

    pub async fn create_user(
        &self,
        caller: &Caller,
        email: &str,
        display_name: &str,
    ) -> Result<User> {
        self.cx
            .authorize_global(caller, "user.create", Resource::default())
            .await?;
        let mut v = Validator::new();
        v.email("email", email);
        v.text("displayName", display_name, MAX_NAME);
        v.finish().map_err(Error::Validation)?;
        let (user, ops) = self.new_user(email, display_name, None)?;
        match self.cx.store.transact(ops).await {
            Err(StoreError::TransactionCancelled { .. }) => Err(Error::conflict(
                "email_taken",
                format!("a user with e-mail {} exists", user.email),
            )),
            other => other.map(|_| user).map_err(Error::from),
        }
    }

    pub async fn get_user(&self, caller: &Caller, user_id: &str) -> Result<User> {
        self.cx
            .authorize_global(caller, "user.read", user_resource(user_id))
            .await?;
        self.existing_user(user_id).await
    }

    pub(crate) async fn existing_user(&self, user_id: &str) -> Result<User> {
        let missing = || Error::not_found("user_not_found", format!("no user {user_id}"));
        if !ids::looks_like("usr", user_id) {
            return Err(missing());
        }
        self.cx
            .load(&keys::user(user_id))
            .await?
            .ok_or_else(missing)
    }

    pub async fn list_users(&self, caller: &Caller, page: &PageRequest) -> Result<Page<User>> {
        self.cx
            .authorize_global(caller, "user.list", Resource::default())
            .await?;
        self.cx
            .page(Query::new(Index::Gsi1, keys::ALL_USERS), page, |item| {
                Ok(Some(decode(item)?))
            })
            .await
    }

    /// The write that creates a token for a user, and the secret.
    pub(crate) fn new_token(
        &self,
        user_id: &str,
        name: Option<String>,
    ) -> Result<(IssuedToken, TxOp)> {
        let secret = ids::new_secret("bbws");
        let info = TokenInfo {
            token_id: ids::new_id("tok"),
            user_id: user_id.to_string(),
            name,
            created_at: self.cx.clock.now(),
        };
        let op = TxOp::put(
            Item::new(keys::token(&ids::hash_secret(&secret)), encode(&info)?)
                .with_gsi1(keys::tokens_of(user_id), &info.token_id),
            Condition::NotExists,
        );
        Ok((
            IssuedToken {
                token_id: info.token_id,
                token: secret,
                user_id: info.user_id,
                name: info.name,
                created_at: info.created_at,
            },
            op,
        ))
    }

    pub async fn create_token(
        &self,
        caller: &Caller,
        user_id: &str,
        name: Option<String>,
    ) -> Result<IssuedToken> {
        self.cx
            .authorize_global(caller, "user.token.create", user_resource(user_id))
            .await?;
        if let Some(name) = &name {
            let mut v = Validator::new();
            v.text("name", name, MAX_NAME);
            v.finish().map_err(Error::Validation)?;
        }
        let user = self.existing_user(user_id).await?;
        let (issued, op) = self.new_token(&user.user_id, name)?;
        // The user must still exist when the token is written.
        self.cx
            .store
            .transact(vec![
                op,
                TxOp::check(keys::user(user_id), Condition::Exists),
            ])
            .await?;
        Ok(issued)
    }

    pub async fn list_tokens(
        &self,
        caller: &Caller,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<TokenInfo>> {
        self.cx
            .authorize_global(caller, "user.token.list", user_resource(user_id))
            .await?;
        self.existing_user(user_id).await?;
        self.cx
            .page(
                Query::new(Index::Gsi1, keys::tokens_of(user_id)),
                page,
                |item| Ok(Some(item.decode()?)),
            )
            .await
    }

    pub async fn revoke_token(&self, caller: &Caller, user_id: &str, token_id: &str) -> Result<()> {
        self.cx
            .authorize_global(caller, "user.token.revoke", user_resource(user_id))
            .await?;
        let missing = || {
            Error::not_found(
                "token_not_found",
                format!("no token {token_id} of user {user_id}"),
            )
        };
        if !ids::looks_like("tok", token_id) {
            return Err(missing());
        }
        let page = self
            .cx
            .store
            .query(
                Query::new(Index::Gsi1, keys::tokens_of(user_id))
                    .prefix(token_id)
                    .limit(1),
            )
            .await?;
        let item = page.items.into_iter().next().ok_or_else(missing)?;
        self.cx
            .store
            .delete(&item.key, Condition::Exists)
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => missing(),
                e => e.into(),
            })?;
        // After the delete, so no request can cache the token again.
        if let Some(hash) = keys::token_hash(&item.key) {
            self.cx.auth_cache.forget_token(hash);
        }
        Ok(())
    }

    pub async fn me(&self, caller: &Caller) -> Result<Me> {
        let user = self.existing_user(&caller.principal.user_id).await?;
        let memberships = self.memberships_of(&user.user_id).await?;
        Ok(Me {
            platform_role: user.platform_role,
            user,
            memberships,
        })
    }
}
