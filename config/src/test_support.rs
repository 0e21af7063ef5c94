//! Set-up shared by the configuration's tests: a user's environment that never reads the
//! process's own variables, and loading configuration text under it.

use std::collections::BTreeMap;

use crate::{parse_file, Config, ConfigError, Environment, Overrides};

/// A non-root user's environment whose variables are exactly `vars`.
pub(crate) fn env_with(vars: &[(&str, &str)]) -> Environment {
    Environment {
        euid: Some(1000),
        xdg_runtime_dir: Some("/run/user/1000".into()),
        xdg_data_home: Some("/home/u/.data".into()),
        home: Some("/home/u".into()),
        vars: Some(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// [`env_with`] no variables.
pub(crate) fn env_user() -> Environment {
    env_with(&[])
}

/// Loads configuration text (named `m.toml`) under `env`, without command-line overrides.
pub(crate) fn load_env(text: &str, env: &Environment) -> Result<Config, ConfigError> {
    let file = parse_file(text, "m.toml")?;
    Config::from_file(file, "m.toml", &Overrides::default(), env)
}

/// [`load_env`] under [`env_user`].
pub(crate) fn load_text(text: &str) -> Result<Config, ConfigError> {
    load_env(text, &env_user())
}
