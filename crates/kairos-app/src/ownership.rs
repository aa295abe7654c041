//! Who may own a record: the rule shared by every record type that has an owner.

use kairos_domain::identity::DataScope;
use kairos_domain::ids::{OrgUnitId, UserId};
use kairos_domain::FieldErrors;
use kairos_store::{Conn, user};

use crate::actor::Actor;
use crate::error::AppResult;

/// Resolves the owner named in a request (or the caller when none is named) to the user and
/// their org unit. A rep may only own records themselves, a manager may hand them to anyone
/// in their subtree, a director or admin to any active user; anything else is a field error,
/// so that a caller cannot push a record out of their own sight by accident.
pub(crate) async fn resolve_owner(
    c: &mut Conn<'_>,
    actor: &Actor,
    errors: &mut FieldErrors,
    requested: Option<&str>,
) -> AppResult<Option<(UserId, Option<OrgUnitId>)>> {
    let Some(text) = requested else {
        return Ok(Some((actor.id(), actor.user.org_unit_id)));
    };
    let Some(id) = errors.check("owner_id", UserId::parse(text)) else { return Ok(None) };
    if id == actor.id() {
        return Ok(Some((actor.id(), actor.user.org_unit_id)));
    }
    let owner = user::find_user(c, actor.workspace(), id).await?;
    let Some(owner) = owner.filter(|u| u.active) else {
        errors.add("owner_id", "does not name an active user of this workspace");
        return Ok(None);
    };
    let allowed = match &actor.scope {
        DataScope::All => true,
        DataScope::Subtree { units, .. } => owner.org_unit_id.is_some_and(|u| units.contains(&u)),
        DataScope::Own { .. } => false,
    };
    if !allowed {
        errors.add("owner_id", "you may only assign records to people within your data scope");
        return Ok(None);
    }
    Ok(Some((owner.id, owner.org_unit_id)))
}
