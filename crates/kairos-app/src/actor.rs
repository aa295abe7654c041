//! Who is asking: the authenticated user with their data scope, and the capabilities that
//! prove a check was made.

use kairos_domain::identity::{DataScope, Role, User};
use kairos_domain::ids::{TokenId, UserId, WorkspaceId};
use kairos_domain::identity::Roles;
use kairos_domain::org::OrgTree;
use kairos_store::org_unit;

use crate::app::App;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub enum AuthMethod {
    Token(TokenId),
    /// A browser session; state-changing requests must echo its CSRF token.
    Session { csrf_token: String },
    /// The command line, run by someone with access to the server.
    Cli,
}

#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub scope: DataScope,
    pub method: AuthMethod,
}

/// Proof that the actor is a workspace admin; admin-only use-cases take one.
#[derive(Debug, Clone, Copy)]
pub struct AdminCap<'a>(&'a Actor);

impl AdminCap<'_> {
    pub fn actor(&self) -> &Actor {
        self.0
    }
}

impl Actor {
    pub fn workspace(&self) -> WorkspaceId {
        self.user.workspace_id
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.user.roles.contains(role)
    }

    /// Admin endpoints answer 403 to everyone else.
    pub fn require_admin(&self) -> AppResult<AdminCap<'_>> {
        if self.user.roles.is_admin() {
            Ok(AdminCap(self))
        } else {
            Err(AppError::Forbidden("this action needs the admin role".into()))
        }
    }
}

impl App {
    /// Builds the actor for a user, deciding their data scope from roles and org unit.
    pub async fn actor_for(&self, user: User, method: AuthMethod) -> AppResult<Actor> {
        let scope = scope_of(self, &user.roles, &user).await?;
        Ok(Actor { user, scope, method })
    }
}

async fn scope_of(app: &App, roles: &Roles, user: &User) -> AppResult<DataScope> {
    // Only managers need the tree; everyone else's scope follows from the roles alone, which
    // keeps authentication to one query for most requests.
    let needs_tree = roles.contains(Role::Manager) && !roles.contains(Role::Admin) && !roles.contains(Role::Director);
    let tree = match (needs_tree, user.org_unit_id) {
        (true, Some(unit)) => {
            let mut conn = app.store.read().await?;
            let ids = org_unit::subtree_ids(&mut conn.conn(), user.workspace_id, unit).await?;
            // The subtree query already walked the tree; a flat tree of those ids under the
            // root gives the same answer to `subtree(unit)`.
            OrgTree::new(ids.iter().map(|id| (*id, if *id == unit { None } else { Some(unit) })).collect())
        }
        _ => OrgTree::default(),
    };
    Ok(DataScope::for_user(user.id, roles, user.org_unit_id, &tree))
}
