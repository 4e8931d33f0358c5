// Package pyreaders reads Avro object container files and Parquet files
// back with readers nobody here wrote: Python's fastavro and pyarrow from
// PyPI, installed on first use into a venv in the peers cache by
// install.sh (so `make test` brings them on a fresh machine). read.py
// turns a file into JSON: its format, codec, schema and records.
package pyreaders

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// File is one file as the Python readers saw it.
type File struct {
	Format string // "avro" or "parquet"
	Codec  string // fastavro's codec name; pyarrow's per-column codecs, comma-joined
	// Schema: the Avro writer schema as fastavro parsed it, or the Arrow
	// schema as [name, type, nullable] triples in column order.
	Schema  json.RawMessage
	Records []map[string]any // bytes as hex, decimals and times as text
}

var (
	once   sync.Once
	python string
	errPy  error
)

func dir() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Dir(f)
}

// Python returns the venv's interpreter, installing fastavro and pyarrow
// the first time.
func Python() (string, error) {
	once.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command("bash", filepath.Join(dir(), "install.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			errPy = fmt.Errorf("install fastavro and pyarrow (test/services/pyreaders/install.sh): %w: %s", err, stderr.String())
			return
		}
		python = strings.TrimSpace(string(out))
	})
	return python, errPy
}

// Read parses each file with fastavro (Avro) or pyarrow (Parquet), in
// one Python process.
func Read(files ...[]byte) ([]*File, error) {
	py, err := Python()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "pyreaders-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := []string{filepath.Join(dir(), "read.py")}
	for i, b := range files {
		p := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
		args = append(args, p)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(py, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("the Python reader refused a file: %w: %s", err, stderr.String())
	}
	var raw []struct {
		Format  string           `json:"format"`
		Codec   string           `json:"codec"`
		Schema  json.RawMessage  `json:"schema"`
		Records []map[string]any `json:"records"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("read the Python reader's output: %w", err)
	}
	res := make([]*File, len(raw))
	for i, r := range raw {
		res[i] = &File{Format: r.Format, Codec: r.Codec, Schema: r.Schema, Records: r.Records}
	}
	return res, nil
}
