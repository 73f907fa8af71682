//! The images the workspace builds and runs, and what each is made from: the production and
//! development images of core, and a production image per Go module with a main package.

use anyhow::{bail, Result};

use crate::settings::{self, Config, Spec};
use crate::workspace::{
    GoModule, Workspace, DEV_COMPOSE, DEV_DOCKERFILE, PROD_COMPOSE, PROD_DOCKERFILE,
};

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

/// The production image of one Go module. By convention (CONTRIBUTING.md "A Go module"), a
/// module DIR named NAME has one when DIR/cmd/pixie-NAME holds its main package; the production
/// Dockerfile's target NAME builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleImage {
    pub module: GoModule,
}

impl ModuleImage {
    /// Core's: what run-prod runs and every command without a module in mind builds.
    pub fn core() -> ModuleImage {
        ModuleImage {
            module: GoModule { dir: "core".into() },
        }
    }

    pub fn name(&self) -> &str {
        self.module.name()
    }

    /// The Dockerfile's final stage for it.
    pub fn stage(&self) -> &str {
        self.name()
    }

    /// Its compile stage, which the Podman builder route replaces by a folder.
    pub fn compile_stage(&self) -> String {
        format!("build-{}", self.name())
    }

    pub fn binary(&self) -> String {
        format!("pixie-{}", self.name())
    }

    /// The setting that names its image: `images.NAME` when the table has that row (core's is
    /// `images.prod`, what run-prod runs).
    pub fn setting(&self) -> Option<&'static Spec> {
        let key = match self.name() {
            "core" => settings::PROD_IMAGE.key.to_string(),
            name => format!("images.{name}"),
        };
        settings::ALL.into_iter().find(|spec| spec.key == key)
    }

    /// Its image: the setting's value, else `pixie-NAME:latest`.
    pub fn image(&self, config: &Config) -> String {
        match self.setting() {
            Some(spec) => config.text(spec).to_string(),
            None => format!("{}:latest", self.binary()),
        }
    }

    /// The modules of go.work that have a production image, in go.work's order.
    pub fn all(ws: &Workspace) -> Result<Vec<ModuleImage>> {
        Ok(ws
            .go_modules()?
            .into_iter()
            .map(|module| ModuleImage { module })
            .filter(|image| {
                ws.path(&image.module.dir)
                    .join("cmd")
                    .join(image.binary())
                    .is_dir()
            })
            .collect())
    }

    /// The module images `build-prod` builds: every one, or the one named.
    pub fn selected(ws: &Workspace, name: Option<&str>) -> Result<Vec<ModuleImage>> {
        let all = ModuleImage::all(ws)?;
        let Some(name) = name else { return Ok(all) };
        match all.iter().find(|image| image.name() == name) {
            Some(image) => Ok(vec![image.clone()]),
            None => bail!(
                "no module `{name}` with an image; the modules with one are: {} (go.work's modules with a cmd/pixie-NAME main package)",
                all.iter().map(ModuleImage::name).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Value;

    fn this_workspace() -> Workspace {
        Workspace::at(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .to_path_buf(),
        )
    }

    #[test]
    fn modules_with_a_main_package_have_images_named_in_the_settings() {
        let ws = this_workspace();
        let images = ModuleImage::all(&ws).unwrap();
        let names: Vec<_> = images.iter().map(ModuleImage::name).collect();
        assert_eq!(
            names,
            ["core", "thumbnailer"],
            "proto has no cmd/pixie-proto"
        );
        let config = Config::resolve_text("", &|_: &str| None, &Vec::new()).unwrap();
        assert_eq!(images[0].image(&config), "pixie-core:latest");
        assert_eq!(images[1].image(&config), "pixie-thumbnailer:latest");
        assert_eq!(
            (
                images[1].stage(),
                images[1].compile_stage().as_str(),
                images[1].binary().as_str()
            ),
            ("thumbnailer", "build-thumbnailer", "pixie-thumbnailer")
        );
        let renamed = config.clone().with(
            &settings::THUMBNAILER_IMAGE,
            Value::Text("reg/thumbs:1".into()),
        );
        assert_eq!(images[1].image(&renamed), "reg/thumbs:1");
        let noop = ModuleImage {
            module: GoModule {
                dir: "plugins/noop".into(),
            },
        };
        assert_eq!(noop.image(&config), "pixie-noop:latest");
    }

    #[test]
    fn an_unknown_module_is_refused_with_the_known_ones() {
        let ws = this_workspace();
        let one = ModuleImage::selected(&ws, Some("thumbnailer")).unwrap();
        assert_eq!(one[0].module.dir, "plugins/thumbnailer");
        assert_eq!(
            ModuleImage::selected(&ws, Some("thumbs")).unwrap_err().to_string(),
            "no module `thumbs` with an image; the modules with one are: core, thumbnailer (go.work's modules with a cmd/pixie-NAME main package)"
        );
    }
}
