package data

import (
	"fmt"
	"os"
)

// EnvDataDir names the environment variable that sets the data root.
const EnvDataDir = "EABS_DATA_DIR"

// DefaultDataDir is the data root used when neither a flag nor EnvDataDir names one
// and the folder exists (the shared datasets beside a checkout).
const DefaultDataDir = "../shared/data"

// ResolveRoot chooses the data root: flag, else $EABS_DATA_DIR, else DefaultDataDir
// when it exists; from says which. With none of them root is "", and LoadRoot refuses
// every dataset but the embedded sample: a missing data folder is never silently
// replaced by the 100-image sample.
func ResolveRoot(flag string, getenv func(string) string) (root, from string) {
	switch {
	case flag != "":
		return flag, "--data-dir"
	case getenv(EnvDataDir) != "":
		return getenv(EnvDataDir), "$" + EnvDataDir
	}
	if st, err := os.Stat(DefaultDataDir); err == nil && st.IsDir() {
		return DefaultDataDir, "default " + DefaultDataDir
	}
	return "", "no data folder"
}

// LoadRoot is LoadWith from a root that ResolveRoot chose: the embedded sample and own
// data whatever the root, any other dataset only from a folder.
func LoadRoot(name, root string, opt Options) (*Dataset, error) {
	p, err := ProfileOf(name)
	if err != nil {
		return nil, err
	}
	if p.Embedded {
		root = EmbeddedRoot
	}
	if root == "" && p.Path == "" {
		return nil, fmt.Errorf("%s: no data folder: pass --data-dir DIR or set %s to the folder holding %s/ in its official layout (the built-in sample is the dataset mnist-sample)",
			name, EnvDataDir, p.Dir)
	}
	return LoadWith(name, root, opt)
}

// RootFingerprint is Fingerprint from a root that ResolveRoot chose.
func RootFingerprint(name, root string) (string, error) {
	if Embedded(name) {
		root = EmbeddedRoot
	}
	if root == "" && !IsOwn(name) {
		return "", fmt.Errorf("%s: no data folder", name)
	}
	return Fingerprint(name, root)
}
