//! Static bearer tokens from a CSV file (`--token-auth-file`), in upstream's format:
//! `token,user,uid,"group1,group2"` per line, the group column optional.

use std::collections::HashMap;

use crate::user::UserInfo;

/// The users of a token file, by token.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    users: HashMap<String, UserInfo>,
}

impl TokenFile {
    /// Parses the file's text; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields = split_csv(line)
                .map_err(|e| format!("token file {name:?} line {}: {e}", index + 1))?;
            if fields.len() < 3 {
                return Err(format!(
                    "token file '{name}' must have at least 3 columns (token, user name, user uid), found {}",
                    fields.len()
                ));
            }
            let token = fields[0].clone();
            if token.is_empty() {
                continue;
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let user = UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                extra: Default::default(),
            };
            users.insert(token, user);
        }
        Ok(TokenFile { users })
    }

    /// The user a token names, with `system:authenticated` added.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.users
            .get(token)
            .cloned()
            .map(UserInfo::with_authenticated_group)
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Splits one CSV record: fields separated by commas, optionally in double quotes (with `""`
/// for a quote inside), leading spaces trimmed as upstream's reader does.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_users_uids_and_quoted_groups() {
        let file = TokenFile::parse(
            "tokens.csv",
            "s3cr3t,dev-user,1001,\"dev,qa\"\n\nother, ops-user, 1002\n",
        )
        .unwrap();
        assert_eq!(file.len(), 2);
        let dev = file.authenticate("s3cr3t").unwrap();
        assert_eq!((dev.name.as_str(), dev.uid.as_str()), ("dev-user", "1001"));
        assert_eq!(dev.groups, ["dev", "qa", "system:authenticated"]);
        assert_eq!(file.authenticate("other").unwrap().name, "ops-user");
        assert!(file.authenticate("nope").is_none());
    }

    #[test]
    fn short_lines_are_refused_with_upstream_wording() {
        let err = TokenFile::parse("t.csv", "tok,user\n").unwrap_err();
        assert_eq!(
            err,
            "token file 't.csv' must have at least 3 columns (token, user name, user uid), found 2"
        );
    }
}
