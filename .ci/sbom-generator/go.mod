module github.com/pixie-photos/pixie/ci/sbom-generator

go 1.26
