// Package zoo holds the trained models that ship with eabs, compiled into the binary so
// the demo and examples work on a fresh clone: each with its training manifest and
// metrics beside it in this folder.
package zoo

import (
	"bytes"
	"embed"
	"fmt"
	"sort"
	"strings"

	"github.com/eabs/eabs/models"
)

//go:embed */model.eabs
var files embed.FS

// Prefix marks a MODEL argument that names a zoo model ("zoo:mnist-eabs").
const Prefix = "zoo:"

// Names lists the models in the zoo.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// Load returns a zoo model's weights and metadata. name may carry the "zoo:" prefix.
func Load(name string) (*models.Weights, map[string]string, error) {
	name = strings.TrimPrefix(name, Prefix)
	b, err := files.ReadFile(name + "/model.eabs")
	if err != nil {
		return nil, nil, fmt.Errorf("zoo: no model %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	f, err := models.DecodeFile(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("zoo: %s: %w", name, err)
	}
	w, _, err := models.WeightsFromTensors(f.Spec, f.Tensors)
	if err != nil {
		return nil, nil, fmt.Errorf("zoo: %s: %w", name, err)
	}
	return w, f.Meta, nil
}

// Bytes returns a zoo model's file, for hashing (name may carry the "zoo:" prefix).
func Bytes(name string) ([]byte, error) {
	name = strings.TrimPrefix(name, Prefix)
	b, err := files.ReadFile(name + "/model.eabs")
	if err != nil {
		return nil, fmt.Errorf("zoo: no model %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}
