// Command sbom-generator is a BuildKit SBOM generator (docs/attestations/sbom-protocol.md in
// moby/buildkit) for machines that cannot pull docker/buildkit-syft-scanner: it lists the Go
// modules compiled into every Go binary of the scanned root filesystems, read from the build
// information the Go linker embeds, as an SPDX 2.3 document in an in-toto statement.
package main

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

type pkg struct {
	SPDXID           string `json:"SPDXID"`
	Name             string `json:"name"`
	VersionInfo      string `json:"versionInfo"`
	DownloadLocation string `json:"downloadLocation"`
	ExternalRefs     []ref  `json:"externalRefs"`
	Comment          string `json:"comment,omitempty"`
}

type ref struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

// scan returns one package per Go module in the Go binaries under root.
func scan(root string) ([]pkg, error) {
	var pkgs []pkg
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			return nil // not a Go binary
		}
		where := "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
		add := func(path, version string) {
			pkgs = append(pkgs, pkg{
				SPDXID:           fmt.Sprintf("SPDXRef-Package-%d", len(pkgs)+1),
				Name:             path,
				VersionInfo:      version,
				DownloadLocation: "NOASSERTION",
				ExternalRefs: []ref{{
					Category: "PACKAGE-MANAGER",
					Type:     "purl",
					Locator:  fmt.Sprintf("pkg:golang/%s@%s", path, version),
				}},
				Comment: "in " + where,
			})
		}
		add("stdlib", info.GoVersion)
		add(info.Main.Path, info.Main.Version)
		for _, dep := range info.Deps {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			add(dep.Path, dep.Version)
		}
		return nil
	})
	return pkgs, err
}

func write(dest, name, root string) error {
	pkgs, err := scan(root)
	if err != nil {
		return err
	}
	statement := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://spdx.dev/Document",
		"predicate": map[string]any{
			"spdxVersion":       "SPDX-2.3",
			"dataLicense":       "CC0-1.0",
			"SPDXID":            "SPDXRef-DOCUMENT",
			"name":              "sbom-" + name,
			"documentNamespace": "https://github.com/pixie-photos/pixie/sbom/" + name,
			"creationInfo": map[string]any{
				"creators": []string{"Tool: pixie-sbom-generator"},
				"created":  "1970-01-01T00:00:00Z",
			},
			"packages": pkgs,
		},
	}
	out, err := json.MarshalIndent(statement, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dest, name+".spdx.json"), out, 0o644)
}

func main() {
	dest, source := os.Getenv("BUILDKIT_SCAN_DESTINATION"), os.Getenv("BUILDKIT_SCAN_SOURCE")
	if dest == "" || source == "" {
		fmt.Fprintln(os.Stderr, "sbom-generator: BUILDKIT_SCAN_DESTINATION and BUILDKIT_SCAN_SOURCE must be set (BuildKit sets them)")
		os.Exit(2)
	}
	if err := write(dest, filepath.Base(source), source); err != nil {
		fmt.Fprintln(os.Stderr, "sbom-generator:", err)
		os.Exit(1)
	}
	extras := os.Getenv("BUILDKIT_SCAN_SOURCE_EXTRAS")
	entries, _ := os.ReadDir(extras) // optional: unset or missing means no extras
	for _, e := range entries {
		if err := write(dest, e.Name(), filepath.Join(extras, e.Name())); err != nil {
			fmt.Fprintln(os.Stderr, "sbom-generator:", err)
			os.Exit(1)
		}
	}
}
