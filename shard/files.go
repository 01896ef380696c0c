package shard

import (
	"encoding/json"
	"fmt"
	"os"
)

// File is a results file as read: its name (a path, for messages) and bytes. Every
// kind of results file keeps its Header under the top-level key "header".
type File struct {
	Name string
	Data []byte
}

// ReadFiles reads the files at paths.
func ReadFiles(paths []string) ([]File, error) {
	out := make([]File, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[i] = File{Name: p, Data: b}
	}
	return out, nil
}

// KindOf returns the result kind the files share (Header.Kind), or an error naming a
// file that has none or another.
func KindOf(files []File) (string, error) {
	if len(files) == 0 {
		return "", fmt.Errorf("no results files")
	}
	var kind string
	for i, f := range files {
		var h struct {
			Header *Header `json:"header"`
		}
		if err := json.Unmarshal(f.Data, &h); err != nil {
			return "", fmt.Errorf("%s: %w", f.Name, err)
		}
		if h.Header == nil || h.Header.Kind == "" {
			return "", fmt.Errorf("%s has no header naming its kind (not an eabs results file)", f.Name)
		}
		if i == 0 {
			kind = h.Header.Kind
		} else if h.Header.Kind != kind {
			return "", fmt.Errorf("%s is a %q result, %s a %q result", f.Name, h.Header.Kind, files[0].Name, kind)
		}
	}
	return kind, nil
}

// Names lists the files' names.
func Names(files []File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Name
	}
	return out
}
