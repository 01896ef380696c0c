// Package layout holds the tests of the repository's layout: the packages follow the
// pipeline (data -> training -> export and inference -> attacks -> certify -> reports
// -> the commands) and the command files stay thin.
package layout

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/eabs/eabs/"

// stages orders the packages along the pipeline; a package may import only packages of
// its own or an earlier stage. Packages not named here (internal/, leaves) are stage 0.
var stages = map[string]int{
	"shard": 0, "stats": 0, "deploy": 0, "internal/naive": 2,
	"data":   1,
	"models": 2, "zoo": 3,
	"graph": 4, "train": 5,
	"onnx": 6, "runtime": 7, "runtime/ref": 8, "runtime/ort": 8, "runtime/onnxgo": 8, "runtime/runtimetest": 8,
	"infer": 9, "crosscheck": 10,
	"attack": 11, "attack/attacktest": 11, "adversary": 12,
	"eval": 13, "certify": 14, "report": 15, "demo": 16,
	"cmd/eabs": 17, "tools": 17,
}

// allowed are the imports against the pipeline that are part of the design.
var allowed = map[[2]string]bool{
	{"train", "attack"}: true, // adversarial training runs PGD
}

func stage(pkg string) int {
	for p := pkg; p != "."; p = filepath.Dir(p) {
		if s, ok := stages[p]; ok {
			return s
		}
	}
	return 0
}

func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestImportsFollowThePipeline: no package imports one that sits after it in the
// pipeline, except the imports in allowed.
func TestImportsFollowThePipeline(t *testing.T) {
	dir := root(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			n++
			if stage(imp) > stage(pkg) && !allowed[[2]string{pkg, imp}] {
				t.Errorf("%s (stage %d) imports %s (stage %d), which comes later in the pipeline", pkg, stage(pkg), imp, stage(imp))
			}
		}
	}
	if n < 50 {
		t.Fatalf("checked only %d imports: go list found too little", n)
	}
}

// TestCommandsAreThin: every command file of cmd/eabs stays short, declares no result
// format (a struct with JSON tags) and opens no engine by itself (runtime.Open is the
// one switch).
func TestCommandsAreThin(t *testing.T) {
	dir := filepath.Join(root(t), "cmd", "eabs")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no command files in %s (%v)", dir, err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(b, []byte("\n")); lines > 260 {
			t.Errorf("%s: %d lines; a command file stays under about 250 (move the work into a library package)", filepath.Base(path), lines)
		}
		f, err := parser.ParseFile(fset, path, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(p, module+"runtime/") && (imp.Name == nil || imp.Name.Name != "_") {
				t.Errorf("%s imports %s: engines are opened through runtime.Open", filepath.Base(path), p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				if fl.Tag != nil && strings.Contains(fl.Tag.Value, "json:") {
					t.Errorf("%s declares a struct with JSON tags at %s: result formats live beside their producers", filepath.Base(path), fset.Position(fl.Pos()))
					return false
				}
			}
			return true
		})
	}
}
