//! The two images the workspace builds and runs, and what each is made from.

use crate::settings::{self, Config};
use crate::workspace::{DEV_COMPOSE, DEV_DOCKERFILE, PROD_COMPOSE, PROD_DOCKERFILE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Prod,
    Dev,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Prod => "prod",
            Target::Dev => "dev",
        }
    }

    pub fn dockerfile(self) -> &'static str {
        match self {
            Target::Prod => PROD_DOCKERFILE,
            Target::Dev => DEV_DOCKERFILE,
        }
    }

    pub fn compose_file(self) -> &'static str {
        match self {
            Target::Prod => PROD_COMPOSE,
            Target::Dev => DEV_COMPOSE,
        }
    }

    pub fn image(self, config: &Config) -> String {
        config
            .text(match self {
                Target::Prod => &settings::PROD_IMAGE,
                Target::Dev => &settings::DEV_IMAGE,
            })
            .to_string()
    }
}
