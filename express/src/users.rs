//! Process identity and the `User`/`Group` Apache should run its children as.
//!
//! Names are looked up in /etc/passwd and /etc/group only (std-only crate, no
//! NSS). That is enough for the defaults: when a name cannot be found the
//! numeric `#uid`/`#gid` form is used, which Apache accepts without a lookup.

use std::fs;

mod sys {
    // uid_t and gid_t are u32 on every Unix Rust supports.
    extern "C" {
        pub fn getuid() -> u32;
        pub fn geteuid() -> u32;
        pub fn getgid() -> u32;
    }
}

/// The identity of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
}

impl Identity {
    pub fn current() -> Identity {
        // SAFETY: getuid, geteuid and getgid take no arguments, cannot fail
        // and touch no memory of ours (POSIX: "shall always be successful").
        unsafe {
            Identity {
                uid: sys::getuid(),
                euid: sys::geteuid(),
                gid: sys::getgid(),
            }
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }
}

/// One /etc/passwd entry (the fields we need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The contents of /etc/passwd and /etc/group.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    passwd: String,
    group: String,
}

impl UserDb {
    pub fn load() -> UserDb {
        UserDb {
            passwd: fs::read_to_string("/etc/passwd").unwrap_or_default(),
            group: fs::read_to_string("/etc/group").unwrap_or_default(),
        }
    }

    #[cfg(test)]
    pub fn from_strings(passwd: &str, group: &str) -> UserDb {
        UserDb {
            passwd: passwd.into(),
            group: group.into(),
        }
    }

    fn users(&self) -> impl Iterator<Item = PasswdEntry> + '_ {
        self.passwd.lines().filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() || f[0].starts_with('#') {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
    }

    pub fn user_by_name(&self, name: &str) -> Option<PasswdEntry> {
        self.users().find(|u| u.name == name)
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<PasswdEntry> {
        self.users().find(|u| u.uid == uid)
    }

    /// A user name or `#uid` (Apache's `User` syntax) as a uid.
    pub fn uid_of(&self, user: &str) -> Option<u32> {
        match user.strip_prefix('#') {
            Some(n) => n.parse().ok(),
            None => self.user_by_name(user).map(|u| u.uid),
        }
    }

    /// A group name or `#gid` (Apache's `Group` syntax) as a gid.
    pub fn gid_of(&self, group: &str) -> Option<u32> {
        match group.strip_prefix('#') {
            Some(n) => n.parse().ok(),
            None => self.group.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 3 && f[0] == group).then(|| f[2].parse().ok())?
            }),
        }
    }

    pub fn group_name(&self, gid: u32) -> Option<String> {
        self.group.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 3 && f[2].parse::<u32>().ok() == Some(gid)).then(|| f[0].to_string())
        })
    }
}

/// The user Apache's children run as when started as root and no `--user`
/// is given (Debian's web server account).
pub const ROOT_DEFAULT_USER: &str = "www-data";

fn is_root_name(value: &str) -> bool {
    value == "root" || value == "#0"
}

/// The user and group of a `--service-script`'s process: `--service-user`
/// and `--service-group`, else Apache's run user and group, as 4.9.4's
/// `${MOD_WSGI_USER}`/`${MOD_WSGI_GROUP}` (so a service user alone keeps
/// the server's group, as there). Only root can switch: otherwise the
/// given names are ignored (mod_wsgi changes user only when started as
/// root) and the second value says so. An unknown name, or root, is
/// refused where mod_wsgi would refuse to start.
pub fn service_user_group(
    id: Identity,
    db: &UserDb,
    user: Option<&str>,
    group: Option<&str>,
    run: (&str, &str),
) -> Result<((String, String), bool), String> {
    if !id.is_root() {
        let ignored = user.is_some() || group.is_some();
        return Ok(((run.0.to_string(), run.1.to_string()), ignored));
    }
    let user = user.unwrap_or(run.0);
    let group = group.unwrap_or(run.1);
    if is_root_name(user) {
        return Err("a service cannot run as root: pass a non-root --service-user".into());
    }
    if db.uid_of(user).is_none() {
        return Err(format!("there is no user '{user}' for the service"));
    }
    if db.gid_of(group).is_none() {
        return Err(format!("there is no group '{group}' for the service"));
    }
    Ok(((user.to_string(), group.to_string()), false))
}

/// Chooses Apache's `User` and `Group`.
///
/// Not root: Apache ignores both (it cannot switch user), so they are the
/// invoking user and group, by name when known (mod_wsgi-express does the
/// same). Root: `--user`, else `www-data`; `--group`, else the run user's
/// primary group. Running the children as root is refused, as Apache would.
pub fn run_user_group(
    id: Identity,
    db: &UserDb,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(String, String), String> {
    if !id.is_root() {
        let user = match user {
            Some(u) => u.to_string(),
            None => db
                .user_by_uid(id.uid)
                .map(|u| u.name)
                .unwrap_or_else(|| format!("#{}", id.uid)),
        };
        let group = match group {
            Some(g) => g.to_string(),
            None => db
                .group_name(id.gid)
                .unwrap_or_else(|| format!("#{}", id.gid)),
        };
        return Ok((user, group));
    }
    let user = match user {
        Some(u) => u.to_string(),
        None => {
            if db.user_by_name(ROOT_DEFAULT_USER).is_none() {
                return Err(format!(
                    "running as root, Apache needs a non-root user for its children: there is no \
                     '{ROOT_DEFAULT_USER}' user, so pass --user and --group"
                ));
            }
            ROOT_DEFAULT_USER.to_string()
        }
    };
    if is_root_name(&user) {
        return Err("Apache refuses to run its children as root: pass a non-root --user".into());
    }
    let group = match group {
        Some(g) => g.to_string(),
        None => {
            let entry = match user.strip_prefix('#') {
                Some(num) => num.parse().ok().and_then(|uid| db.user_by_uid(uid)),
                None => db.user_by_name(&user),
            };
            match entry {
                Some(e) => db
                    .group_name(e.gid)
                    .unwrap_or_else(|| format!("#{}", e.gid)),
                None => {
                    return Err(format!(
                    "cannot find the primary group of user '{user}' in /etc/passwd: pass --group"
                ))
                }
            }
        }
    };
    Ok((user, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                          alice:x:1000:1000::/home/alice:/bin/sh\n\
                          svc:x:998:4242::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww-data:x:33:\nalice:x:1000:\nstaff:x:50:alice\n";

    fn db() -> UserDb {
        UserDb::from_strings(PASSWD, GROUP)
    }

    fn user(uid: u32, gid: u32) -> Identity {
        Identity {
            uid,
            euid: uid,
            gid,
        }
    }

    #[test]
    fn service_user_group_defaults_to_the_server_and_is_checked_as_root() {
        let db = db();
        let run = ("www-data", "www-data");
        let root = user(0, 0);
        let pick = |u, g| service_user_group(root, &db, u, g, run);
        assert_eq!(
            pick(None, None),
            Ok((("www-data".into(), "www-data".into()), false))
        );
        // A user alone keeps the server's group, as 4.9.4's ${MOD_WSGI_GROUP}.
        assert_eq!(
            pick(Some("alice"), None),
            Ok((("alice".into(), "www-data".into()), false))
        );
        assert_eq!(
            pick(Some("#998"), Some("staff")),
            Ok((("#998".into(), "staff".into()), false))
        );
        assert!(pick(Some("root"), None).unwrap_err().contains("root"));
        assert!(pick(Some("#0"), None).unwrap_err().contains("root"));
        assert!(pick(Some("nobody"), None).unwrap_err().contains("'nobody'"));
        assert!(pick(None, Some("wheel")).unwrap_err().contains("'wheel'"));
        // Not root: nothing can be switched, so the run user stays and the
        // caller is told the options are ignored.
        let alice = user(1000, 1000);
        assert_eq!(
            service_user_group(alice, &db, Some("nobody"), None, ("alice", "alice")),
            Ok((("alice".into(), "alice".into()), true))
        );
        assert_eq!(
            service_user_group(alice, &db, None, None, ("alice", "alice")),
            Ok((("alice".into(), "alice".into()), false))
        );
    }

    #[test]
    fn current_identity_is_consistent() {
        let id = Identity::current();
        assert_eq!(id.is_root(), id.euid == 0);
    }

    #[test]
    fn lookups() {
        let db = db();
        assert_eq!(db.user_by_name("alice").unwrap().uid, 1000);
        assert_eq!(db.user_by_uid(33).unwrap().name, "www-data");
        assert_eq!(db.group_name(50).as_deref(), Some("staff"));
        assert_eq!(db.group_name(7), None);
        assert_eq!(db.user_by_name("nobody"), None);
        assert_eq!(db.uid_of("www-data"), Some(33));
        assert_eq!(db.uid_of("#4000"), Some(4000));
        assert_eq!(db.uid_of("nobody"), None);
        assert_eq!(db.gid_of("staff"), Some(50));
        assert_eq!(db.gid_of("#7"), Some(7));
        assert_eq!(db.gid_of("nogroup"), None);
    }

    #[test]
    fn non_root_runs_as_itself() {
        assert_eq!(
            run_user_group(user(1000, 1000), &db(), None, None).unwrap(),
            ("alice".into(), "alice".into())
        );
        assert_eq!(
            run_user_group(user(4000, 4001), &db(), None, None).unwrap(),
            ("#4000".into(), "#4001".into())
        );
        assert_eq!(
            run_user_group(user(1000, 1000), &db(), Some("x"), Some("y")).unwrap(),
            ("x".into(), "y".into())
        );
    }

    #[test]
    fn root_defaults_to_www_data() {
        assert_eq!(
            run_user_group(user(0, 0), &db(), None, None).unwrap(),
            ("www-data".into(), "www-data".into())
        );
    }

    #[test]
    fn root_group_follows_the_run_user() {
        assert_eq!(
            run_user_group(user(0, 0), &db(), Some("alice"), None).unwrap(),
            ("alice".into(), "alice".into())
        );
        assert_eq!(
            run_user_group(user(0, 0), &db(), Some("svc"), None).unwrap(),
            ("svc".into(), "#4242".into())
        );
        assert_eq!(
            run_user_group(user(0, 0), &db(), Some("#1000"), None).unwrap(),
            ("#1000".into(), "alice".into())
        );
        assert!(run_user_group(user(0, 0), &db(), Some("ghost"), None)
            .unwrap_err()
            .contains("--group"));
        assert_eq!(
            run_user_group(user(0, 0), &db(), Some("ghost"), Some("staff")).unwrap(),
            ("ghost".into(), "staff".into())
        );
    }

    #[test]
    fn root_refuses_root_children_and_missing_www_data() {
        assert!(run_user_group(user(0, 0), &db(), Some("root"), None).is_err());
        assert!(run_user_group(user(0, 0), &db(), Some("#0"), Some("x")).is_err());
        let no_www = UserDb::from_strings("root:x:0:0::/:/bin/sh\n", "root:x:0:\n");
        assert!(run_user_group(user(0, 0), &no_www, None, None)
            .unwrap_err()
            .contains("pass --user"));
    }
}
