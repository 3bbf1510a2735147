//! The `Identity` application service: authorization, password hashing, persistence and
//! token issuance, independent of gRPC.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{self, SaltString},
};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use fleuve_mesh::{
    Principal, Role,
    auth::{Claims, JwkSet, TokenIssuer},
};
use fleuve_store::{Database, DbConnection};

use fleuve_aggregate::{AppError, DomainError};

use crate::domain::{
    Country, DisplayName, Email, Listing, NewOrganisation, NewUser, Organisation, OrganisationName, Page, PageRequest,
    Password, RegistrationNumber, User, email_taken, encode_token, invalid, invalid_credentials,
    registration_number_taken, required, unknown_organisation,
};
use crate::schema::{organisations, users};

/// The password of every demo account `seed_demo` creates.
pub const DEMO_PASSWORD: &str = "fleuve-dev-password";

/// Verified when the email is unknown, so that an unknown email costs as much as a wrong
/// password. It uses `Argon2::default()` parameters like every stored hash (a test checks that)
/// and hashes a random password nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y0j/AQWyK4dbr6cwykOcyQ$pEKMEEDM3SLLk9jmpJGxKh+mzdyz1XbkzPjqYZO9Fo0";

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in_seconds: i64,
    pub claims: Claims,
    pub user: User,
}

/// The demo organisations and users, as they are in the database after `seed_demo`.
#[derive(Debug, Clone)]
pub struct DemoAccounts {
    /// The password of all four users.
    pub password: &'static str,
    /// ARPCE, the regulator.
    pub regulator: Organisation,
    /// Congo Mobile Equipements SA.
    pub applicant_organisation: Organisation,
    /// Brazza Radio Import SARL, to show one applicant cannot see another's dossiers.
    pub second_applicant_organisation: Organisation,
    pub admin: User,
    pub reviewer: User,
    pub applicant: User,
    pub second_applicant: User,
}

impl DemoAccounts {
    pub fn organisations(&self) -> [&Organisation; 3] {
        [&self.regulator, &self.applicant_organisation, &self.second_applicant_organisation]
    }

    pub fn users(&self) -> [&User; 4] {
        [&self.admin, &self.reviewer, &self.applicant, &self.second_applicant]
    }
}

struct DemoOrganisation {
    name: &'static str,
    registration_number: &'static str,
    country: &'static str,
}

const DEMO_ORGANISATIONS: [DemoOrganisation; 3] = [
    DemoOrganisation { name: "ARPCE", registration_number: "CG-BZV-ARPCE", country: "CG" },
    DemoOrganisation {
        name: "Congo Mobile Equipements SA",
        registration_number: "CG-BZV-01-2024-B12-00042",
        country: "CG",
    },
    DemoOrganisation {
        name: "Brazza Radio Import SARL",
        registration_number: "CG-BZV-01-2023-B14-00777",
        country: "CG",
    },
];

struct DemoUser {
    email: &'static str,
    display_name: &'static str,
    role: Role,
    /// Index into `DEMO_ORGANISATIONS`.
    organisation: usize,
}

const DEMO_USERS: [DemoUser; 4] = [
    DemoUser { email: "admin@arpce.cg", display_name: "ARPCE Admin", role: Role::Admin, organisation: 0 },
    DemoUser { email: "reviewer@arpce.cg", display_name: "ARPCE Reviewer", role: Role::Reviewer, organisation: 0 },
    DemoUser {
        email: "applicant@congomobile.cg",
        display_name: "Congo Mobile Applicant",
        role: Role::Applicant,
        organisation: 1,
    },
    DemoUser {
        email: "applicant@brazzaradio.cg",
        display_name: "Brazza Radio Applicant",
        role: Role::Applicant,
        organisation: 2,
    },
];

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
struct OrganisationRow {
    organisation_id: String,
    name: String,
    registration_number: String,
    country: String,
    created_at: NaiveDateTime,
}

impl OrganisationRow {
    fn into_domain(self) -> Organisation {
        Organisation {
            organisation_id: self.organisation_id,
            name: self.name,
            registration_number: self.registration_number,
            country: self.country,
            created_at: self.created_at.and_utc(),
        }
    }
}

/// A user row without its password hash, which only `login` reads.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    user_id: String,
    email: String,
    display_name: String,
    role: String,
    organisation_id: String,
    created_at: NaiveDateTime,
}

impl UserRow {
    fn into_domain(self) -> Result<User, AppError> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            AppError::internal(format!("stored user role is corrupt: user {} has role {:?}", self.user_id, self.role))
        })?;
        Ok(User {
            user_id: self.user_id,
            email: self.email,
            display_name: self.display_name,
            role,
            organisation_id: self.organisation_id,
            created_at: self.created_at.and_utc(),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow {
    user_id: String,
    email: String,
    display_name: String,
    password_hash: String,
    role: &'static str,
    organisation_id: String,
    created_at: NaiveDateTime,
}

/// Organisations, users, login and the JWKS on top of one database and one signing key.
#[derive(Debug, Clone)]
pub struct Identity {
    db: Database,
    issuer: TokenIssuer,
}

impl Identity {
    /// `db` must have been migrated with [`crate::MIGRATIONS`].
    pub fn new(db: Database, issuer: TokenIssuer) -> Identity {
        Identity { db, issuer }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The public keys that verify the tokens this service issues.
    pub fn jwks(&self) -> JwkSet {
        self.issuer.jwks()
    }

    /// Mints an access token for `user` without a password (for `fleuve dev` and tests).
    pub fn token_for(&self, user: &User) -> Result<(String, Claims), AppError> {
        self.issuer.issue(&user.user_id, user.role, &user.organisation_id).map_err(AppError::Service)
    }

    pub async fn create_organisation(&self, actor: &Principal, new: NewOrganisation) -> Result<Organisation, AppError> {
        require_admin(actor, "creating an organisation")?;
        let row = organisation_row(&new);
        let created = self.db.transaction(move |conn| insert_organisation(conn, row)).await?;
        tracing::info!(organisation_id = %created.organisation_id, actor = %actor.subject, "organisation created");
        Ok(created.into_domain())
    }

    pub async fn list_organisations(
        &self,
        actor: &Principal,
        page: PageRequest,
    ) -> Result<Page<Organisation>, AppError> {
        require_admin(actor, "listing organisations")?;
        let after = page.after.unwrap_or_default();
        let rows: Vec<OrganisationRow> = self
            .db
            .run(move |conn| {
                organisations::table
                    // Ids are never empty, so "" starts from the beginning.
                    .filter(organisations::organisation_id.gt(after))
                    .order(organisations::organisation_id.asc())
                    .limit(fetch_limit(page.size))
                    .select(OrganisationRow::as_select())
                    .load(conn)
                    .map_err(AppError::from)
            })
            .await?;
        let (rows, next) = paginate(rows, page.size, Listing::Organisations, |r| &r.organisation_id);
        Ok(Page { items: rows.into_iter().map(OrganisationRow::into_domain).collect(), next_page_token: next })
    }

    pub async fn create_user(&self, actor: &Principal, new: NewUser) -> Result<User, AppError> {
        require_admin(actor, "creating a user")?;
        let organisation_id = match (new.organisation_id, new.role.is_staff()) {
            // The admin is regulator staff, so its organisation is the regulator's.
            (None, true) => actor.organisation_id.clone(),
            (None, false) => {
                return Err(invalid("organisation_id", "is required for applicants").into());
            }
            // Staff roles grant regulator powers everywhere; they must not sit in an
            // applicant's organisation.
            (Some(id), true) if id != actor.organisation_id => {
                return Err(
                    invalid("organisation_id", "of reviewers and admins must be the regulator's organisation").into()
                );
            }
            (Some(id), _) => id,
        };

        // Refuse what is bound to fail before argon2 spends its time and memory.
        {
            let email = new.email.as_str().to_owned();
            let organisation_id = organisation_id.clone();
            self.db
                .run(move |conn| {
                    ensure_organisation_exists(conn, &organisation_id)?;
                    ensure_email_free(conn, &email)
                })
                .await?;
        }

        let password_hash = blocking(move || hash_password(&new.password)).await??;
        let row = NewUserRow {
            user_id: uuid::Uuid::now_v7().to_string(),
            email: new.email.as_str().to_owned(),
            display_name: new.display_name.as_str().to_owned(),
            password_hash,
            role: new.role.as_str(),
            organisation_id,
            created_at: now(),
        };
        let user = self
            .db
            .transaction(move |conn| {
                ensure_organisation_exists(conn, &row.organisation_id)?;
                insert_user(conn, &row)
            })
            .await?;
        tracing::info!(user_id = %user.user_id, role = user.role.as_str(), actor = %actor.subject, "user created");
        Ok(user)
    }

    /// Admins list any organisation's users, or everybody's when `organisation_id` is `None`;
    /// everyone else lists only their own organisation's.
    pub async fn list_users(
        &self,
        actor: &Principal,
        organisation_id: Option<String>,
        page: PageRequest,
    ) -> Result<Page<User>, AppError> {
        let filter = match (actor.role, organisation_id) {
            (Role::Admin, requested) => requested,
            (_, None) => Some(actor.organisation_id.clone()),
            (_, Some(id)) if id == actor.organisation_id => Some(id),
            (role, Some(_)) => {
                return Err(DomainError::Forbidden(format!(
                    "a {} may only list the users of its own organisation",
                    role.as_str()
                ))
                .into());
            }
        };
        let after = page.after.unwrap_or_default();
        let rows: Vec<UserRow> = self
            .db
            .run(move |conn| {
                let mut query = users::table
                    .filter(users::user_id.gt(after))
                    .order(users::user_id.asc())
                    .limit(fetch_limit(page.size))
                    .select(UserRow::as_select())
                    .into_boxed();
                if let Some(organisation_id) = filter {
                    ensure_organisation_exists(conn, &organisation_id)?;
                    query = query.filter(users::organisation_id.eq(organisation_id));
                }
                query.load(conn).map_err(AppError::from)
            })
            .await?;
        let (rows, next) = paginate(rows, page.size, Listing::Users, |r| &r.user_id);
        let items = rows.into_iter().map(UserRow::into_domain).collect::<Result<_, _>>()?;
        Ok(Page { items, next_page_token: next })
    }

    /// The email address of a user (for services that write to users, e.g. notifications);
    /// `None` for an unknown user.
    pub async fn user_email(&self, user_id: &str) -> Result<Option<String>, AppError> {
        user_email(&self.db, user_id).await
    }

    /// Exchanges an email and password for an access token. Every failure after the required
    /// fields are present is `InvalidCredentials` and costs one argon2 verification.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, AppError> {
        if email.trim().is_empty() {
            return Err(required("email").into());
        }
        if password.is_empty() {
            return Err(required("password").into());
        }
        let found = match Email::parse(email) {
            Ok(email) => {
                self.db
                    .run(move |conn| {
                        users::table
                            .filter(users::email.eq(email.as_str()))
                            .select((UserRow::as_select(), users::password_hash))
                            .first::<(UserRow, String)>(conn)
                            .optional()
                            .map_err(AppError::from)
                    })
                    .await?
            }
            // Nobody can have registered it; still pay for a verification below.
            Err(_) => None,
        };
        let hash = found.as_ref().map_or(DUMMY_HASH, |(_, hash)| hash.as_str()).to_owned();
        let password = password.to_owned();
        let verified = blocking(move || verify_password(&password, &hash)).await??;
        let Some((row, _)) = found.filter(|_| verified) else {
            tracing::info!("login refused");
            return Err(invalid_credentials().into());
        };
        let user = row.into_domain()?;
        let (access_token, claims) = self.token_for(&user)?;
        tracing::info!(user_id = %user.user_id, "login");
        Ok(LoginOutcome {
            access_token,
            token_type: "Bearer",
            expires_in_seconds: claims.exp - claims.iat,
            claims,
            user,
        })
    }

    /// Creates the demo organisations and users that do not exist yet and returns all of them
    /// as stored. Safe to call on every start and from several processes at once.
    pub async fn seed_demo(&self) -> Result<DemoAccounts, AppError> {
        // Hash outside the write transaction so a first start does not hold the SQLite write
        // lock through four argon2 runs; a user that disappears in between is hashed inline.
        let missing: Vec<&'static str> = self
            .db
            .run(|conn| {
                let emails: Vec<&str> = DEMO_USERS.iter().map(|u| u.email).collect();
                let existing: Vec<String> =
                    users::table.filter(users::email.eq_any(&emails)).select(users::email).load(conn)?;
                Ok::<_, AppError>(
                    DEMO_USERS.iter().map(|u| u.email).filter(|email| !existing.iter().any(|e| e == email)).collect(),
                )
            })
            .await?;
        let hashes: Vec<(&'static str, String)> = blocking(move || {
            missing
                .into_iter()
                .map(|email| Ok((email, hash_password(&demo_password()?)?)))
                .collect::<Result<_, AppError>>()
        })
        .await??;

        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            let hashes = hashes.clone();
            match self.db.transaction(move |conn| seed_in(conn, &hashes)).await {
                // Another process seeded the same rows concurrently; the next attempt finds them.
                Err(AppError::Domain(DomainError::AlreadyExists(_))) if attempt < ATTEMPTS => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn demo_password() -> Result<Password, AppError> {
    Ok(Password::parse(DEMO_PASSWORD)?)
}

fn seed_in(conn: &mut DbConnection, hashes: &[(&'static str, String)]) -> Result<DemoAccounts, AppError> {
    let mut organisations = Vec::with_capacity(DEMO_ORGANISATIONS.len());
    for demo in &DEMO_ORGANISATIONS {
        let new = NewOrganisation {
            name: OrganisationName::parse(demo.name)?,
            registration_number: RegistrationNumber::parse(demo.registration_number)?,
            country: Country::parse(demo.country)?,
        };
        let existing = organisations::table
            .filter(organisations::registration_number.eq(new.registration_number.as_str()))
            .select(OrganisationRow::as_select())
            .first(conn)
            .optional()?;
        let row = match existing {
            Some(row) => row,
            None => insert_organisation(conn, organisation_row(&new))?,
        };
        organisations.push(row.into_domain());
    }

    let mut seeded = Vec::with_capacity(DEMO_USERS.len());
    for demo in &DEMO_USERS {
        let email = Email::parse(demo.email)?;
        let existing =
            users::table.filter(users::email.eq(email.as_str())).select(UserRow::as_select()).first(conn).optional()?;
        let user = match existing {
            Some(row) => row.into_domain()?,
            None => {
                let password_hash = match hashes.iter().find(|(e, _)| *e == demo.email) {
                    Some((_, hash)) => hash.clone(),
                    None => hash_password(&demo_password()?)?,
                };
                let row = NewUserRow {
                    user_id: uuid::Uuid::now_v7().to_string(),
                    email: email.as_str().to_owned(),
                    display_name: DisplayName::parse(demo.display_name)?.as_str().to_owned(),
                    password_hash,
                    role: demo.role.as_str(),
                    organisation_id: organisations[demo.organisation].organisation_id.clone(),
                    created_at: now(),
                };
                insert_user(conn, &row)?
            }
        };
        seeded.push(user);
    }

    let mut organisations = organisations.into_iter();
    let mut seeded = seeded.into_iter();
    let missing = || AppError::internal("stored demo seed is corrupt: a demo record is missing");
    Ok(DemoAccounts {
        password: DEMO_PASSWORD,
        regulator: organisations.next().ok_or_else(missing)?,
        applicant_organisation: organisations.next().ok_or_else(missing)?,
        second_applicant_organisation: organisations.next().ok_or_else(missing)?,
        admin: seeded.next().ok_or_else(missing)?,
        reviewer: seeded.next().ok_or_else(missing)?,
        applicant: seeded.next().ok_or_else(missing)?,
        second_applicant: seeded.next().ok_or_else(missing)?,
    })
}

fn require_admin(actor: &Principal, action: &str) -> Result<(), AppError> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!("{action} needs the role admin (caller is {})", actor.role.as_str())).into())
    }
}

/// Microsecond precision: what PostgreSQL keeps, so a returned record equals its stored form.
fn now() -> NaiveDateTime {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now).naive_utc()
}

fn organisation_row(new: &NewOrganisation) -> OrganisationRow {
    OrganisationRow {
        organisation_id: uuid::Uuid::now_v7().to_string(),
        name: new.name.as_str().to_owned(),
        registration_number: new.registration_number.as_str().to_owned(),
        country: new.country.as_str().to_owned(),
        created_at: now(),
    }
}

fn insert_organisation(conn: &mut DbConnection, row: OrganisationRow) -> Result<OrganisationRow, AppError> {
    match diesel::insert_into(organisations::table).values(&row).execute(conn) {
        Ok(_) => Ok(row),
        Err(e)
            if is_unique_violation(
                &e,
                "organisations_registration_number_key",
                "organisations.registration_number",
            ) =>
        {
            Err(registration_number_taken(&row.registration_number).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn insert_user(conn: &mut DbConnection, row: &NewUserRow) -> Result<User, AppError> {
    match diesel::insert_into(users::table).values(row).execute(conn) {
        Ok(_) => Ok(User {
            user_id: row.user_id.clone(),
            email: row.email.clone(),
            display_name: row.display_name.clone(),
            role: Role::parse(row.role)
                .ok_or_else(|| AppError::internal(format!("stored user role is corrupt: {}", row.role)))?,
            organisation_id: row.organisation_id.clone(),
            created_at: row.created_at.and_utc(),
        }),
        Err(e) if is_unique_violation(&e, "users_email_key", "users.email") => Err(email_taken(&row.email).into()),
        Err(e) => Err(e.into()),
    }
}

fn ensure_organisation_exists(conn: &mut DbConnection, organisation_id: &str) -> Result<(), AppError> {
    let found: i64 =
        organisations::table.filter(organisations::organisation_id.eq(organisation_id)).count().get_result(conn)?;
    if found == 0 {
        return Err(unknown_organisation(organisation_id).into());
    }
    Ok(())
}

fn ensure_email_free(conn: &mut DbConnection, email: &str) -> Result<(), AppError> {
    let found: i64 = users::table.filter(users::email.eq(email)).count().get_result(conn)?;
    if found > 0 {
        return Err(email_taken(email).into());
    }
    Ok(())
}

/// PostgreSQL names the violated constraint; SQLite only names the column in its message.
fn is_unique_violation(error: &DieselError, constraint: &str, column: &str) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.constraint_name() == Some(constraint) || info.message().contains(column)
        }
        _ => false,
    }
}

/// One more row than the page holds tells whether another page follows.
fn fetch_limit(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX).saturating_add(1)
}

fn paginate<T>(
    mut rows: Vec<T>,
    size: usize,
    listing: Listing,
    id: impl Fn(&T) -> &String,
) -> (Vec<T>, Option<String>) {
    if rows.len() <= size {
        return (rows, None);
    }
    rows.truncate(size);
    let next = rows.last().map(|last| encode_token(listing, id(last)));
    (rows, next)
}

/// Runs CPU-heavy work (argon2) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(AppError::internal(format!("blocking task failed: {e}"))),
    }
}

/// An Argon2id PHC string with the crate's default parameters and a fresh random salt.
fn hash_password(password: &Password) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
}

/// Verifies with the parameters recorded in `phc`, so hashes survive a change of defaults.
fn verify_password(password: &str, phc: &str) -> Result<bool, AppError> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| AppError::internal(format!("stored password hash is corrupt: {e}")))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(AppError::internal(format!("password hashing failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real_phc = hash_password(&Password::parse("correct horse").unwrap()).unwrap();
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify_password(DEMO_PASSWORD, DUMMY_HASH).unwrap());
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let phc = hash_password(&Password::parse("correct horse").unwrap()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(verify_password("correct horse", &phc).unwrap());
        assert!(!verify_password("correct horsE", &phc).unwrap());
        assert!(verify_password("x", "not a phc string").is_err());
    }
}

/// The email address of a user, read from the identity tables of `db`; `None` for an unknown
/// user. For services sharing the database that write to users (notifications).
pub async fn user_email(db: &Database, user_id: &str) -> Result<Option<String>, AppError> {
    let user_id = user_id.to_owned();
    db.run(move |conn| {
        users::table
            .filter(users::user_id.eq(user_id))
            .select(users::email)
            .first::<String>(conn)
            .optional()
            .map_err(AppError::from)
    })
    .await
}
