//! Argon2id password hashing. Hashing is deliberately slow, so it runs on the blocking pool.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use kairos_domain::Problem;

use crate::app::AppConfig;
use crate::error::{AppError, AppResult};

/// Checks the rules a new password must meet.
pub fn check_policy(password: &str) -> Result<(), Problem> {
    let n = password.chars().count();
    if n < 8 {
        return Err(Problem::new("must be at least 8 characters"));
    }
    if n > 200 {
        return Err(Problem::new("must be at most 200 characters"));
    }
    Ok(())
}

fn argon2(config: &AppConfig) -> AppResult<Argon2<'static>> {
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
        .map_err(|e| AppError::internal(format!("bad argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub async fn hash(config: &AppConfig, password: String) -> AppResult<String> {
    let hasher = argon2(config)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(AppError::unexpected)?
}

/// Verifies a password against a stored hash. With no hash (unknown user) it still spends
/// the time of one verification, so response times do not reveal which e-mails exist.
pub async fn verify(config: &AppConfig, password: String, stored: Option<String>) -> AppResult<bool> {
    let hasher = argon2(config)?;
    tokio::task::spawn_blocking(move || {
        let stored = match stored {
            Some(s) => s,
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = hasher.hash_password(password.as_bytes(), &salt);
                return Ok(false);
            }
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| AppError::internal(format!("stored hash unreadable: {e}")))?;
        // The parameters stored with the hash win, so raising the cost later keeps old
        // passwords working.
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(AppError::unexpected)?
}

/// A random secret for a session cookie, a CSRF token or an API token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored in place of a secret: its SHA-256, hex-encoded. Secrets are random and
/// long, so a fast hash is enough (no salt or stretching needed, unlike passwords).
pub fn secret_hash(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy(&"x".repeat(201)).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let config = AppConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AppConfig::default() };
        let h = hash(&config, "correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&config, "correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!verify(&config, "wrong horse".into(), Some(h)).await.unwrap());
        assert!(!verify(&config, "anything".into(), None).await.unwrap());
    }

    #[test]
    fn secrets_are_distinct_and_hashes_stable() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(secret_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
